-- AlterTable
ALTER TABLE "Host" ADD COLUMN "operator" TEXT;

