-- AlterTable
ALTER TABLE "Job" ADD COLUMN     "payer" TEXT;

-- AlterTable
ALTER TABLE "Deal" ADD COLUMN     "payer" TEXT;

