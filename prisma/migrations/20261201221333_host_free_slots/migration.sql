-- AlterTable
ALTER TABLE "Host" ADD COLUMN "freeSlots" INTEGER;

