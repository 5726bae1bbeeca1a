-- AlterTable
ALTER TABLE "Host" ADD COLUMN     "stake" TEXT NOT NULL DEFAULT '0';

