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
    "freeSlots" INTEGER,
    "operator" TEXT,
    "stake" TEXT NOT NULL DEFAULT '0',
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
    "meanSlotMs" INTEGER,
    "images" TEXT NOT NULL DEFAULT '[]'
);
INSERT INTO "new_Host" ("address", "arch", "cpus", "createdAt", "did", "diskMiB", "earned", "freeSlots", "gpuModel", "gpus", "id", "jobsDone", "jobsFailed", "lastSeenAt", "maxSlots", "meanSlotMs", "memoryMiB", "operator", "pricePerCpuSecond", "pricePerGibSecond", "pricePerGpuSecond", "slashed", "stake", "status", "timesSlashed", "updatedAt") SELECT "address", "arch", "cpus", "createdAt", "did", "diskMiB", "earned", "freeSlots", "gpuModel", "gpus", "id", "jobsDone", "jobsFailed", "lastSeenAt", "maxSlots", "meanSlotMs", "memoryMiB", "operator", "pricePerCpuSecond", "pricePerGibSecond", "pricePerGpuSecond", "slashed", "stake", "status", "timesSlashed", "updatedAt" FROM "Host";
DROP TABLE "Host";
ALTER TABLE "new_Host" RENAME TO "Host";
CREATE UNIQUE INDEX "Host_address_key" ON "Host"("address");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

