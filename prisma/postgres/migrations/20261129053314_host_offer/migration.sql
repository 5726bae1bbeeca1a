-- AlterTable
ALTER TABLE "Host" ADD COLUMN     "gpuModel" TEXT,
ADD COLUMN     "pricePerGibSecond" TEXT NOT NULL DEFAULT '0',
ADD COLUMN     "pricePerGpuSecond" TEXT NOT NULL DEFAULT '0',
ADD COLUMN     "status" TEXT NOT NULL DEFAULT 'online';

