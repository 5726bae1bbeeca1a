-- CreateTable
CREATE TABLE "HostRecord" (
    "jobId" TEXT NOT NULL,
    "hostId" TEXT NOT NULL,
    "outcome" TEXT NOT NULL,
    "earned" TEXT NOT NULL DEFAULT '0',
    "slashed" TEXT NOT NULL DEFAULT '0',
    "slotMs" INTEGER,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,

    PRIMARY KEY ("jobId", "hostId")
);

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Host" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "address" TEXT NOT NULL,
    "did" TEXT NOT NULL,
    "arch" TEXT NOT NULL,
    "cpus" REAL NOT NULL,
    "memoryMiB" INTEGER NOT NULL,
    "diskMiB" INTEGER NOT NULL,
    "gpus" INTEGER NOT NULL,
    "gpuModel" TEXT,
    "maxSlots" INTEGER NOT NULL,
    "pricePerCpuSecond" TEXT NOT NULL,
    "pricePerGibSecond" TEXT NOT NULL DEFAULT '0',
    "pricePerGpuSecond" TEXT NOT NULL DEFAULT '0',
    "status" TEXT NOT NULL DEFAULT 'online',
    "lastSeenAt" DATETIME NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    "jobsDone" INTEGER NOT NULL DEFAULT 0,
    "jobsFailed" INTEGER NOT NULL DEFAULT 0,
    "timesSlashed" INTEGER NOT NULL DEFAULT 0,
    "earned" TEXT NOT NULL DEFAULT '0',
    "slashed" TEXT NOT NULL DEFAULT '0',
    "meanSlotMs" INTEGER
);
INSERT INTO "new_Host" ("address", "arch", "cpus", "createdAt", "did", "diskMiB", "gpuModel", "gpus", "id", "lastSeenAt", "maxSlots", "memoryMiB", "pricePerCpuSecond", "pricePerGibSecond", "pricePerGpuSecond", "status", "updatedAt") SELECT "address", "arch", "cpus", "createdAt", "did", "diskMiB", "gpuModel", "gpus", "id", "lastSeenAt", "maxSlots", "memoryMiB", "pricePerCpuSecond", "pricePerGibSecond", "pricePerGpuSecond", "status", "updatedAt" FROM "Host";
DROP TABLE "Host";
ALTER TABLE "new_Host" RENAME TO "Host";
CREATE UNIQUE INDEX "Host_address_key" ON "Host"("address");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

-- CreateIndex
CREATE INDEX "HostRecord_hostId_idx" ON "HostRecord"("hostId");

