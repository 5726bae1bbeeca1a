-- AlterTable
ALTER TABLE "Host" ADD COLUMN     "earned" TEXT NOT NULL DEFAULT '0',
ADD COLUMN     "jobsDone" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "jobsFailed" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "meanSlotMs" INTEGER,
ADD COLUMN     "slashed" TEXT NOT NULL DEFAULT '0',
ADD COLUMN     "timesSlashed" INTEGER NOT NULL DEFAULT 0;

-- CreateTable
CREATE TABLE "HostRecord" (
    "jobId" TEXT NOT NULL,
    "hostId" TEXT NOT NULL,
    "outcome" TEXT NOT NULL,
    "earned" TEXT NOT NULL DEFAULT '0',
    "slashed" TEXT NOT NULL DEFAULT '0',
    "slotMs" INTEGER,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "HostRecord_pkey" PRIMARY KEY ("jobId","hostId")
);

-- CreateIndex
CREATE INDEX "HostRecord_hostId_idx" ON "HostRecord"("hostId");

