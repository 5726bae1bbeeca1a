-- AlterTable
ALTER TABLE "Host" ADD COLUMN     "images" TEXT NOT NULL DEFAULT '[]';

