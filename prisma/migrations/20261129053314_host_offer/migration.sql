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
    "updatedAt" DATETIME NOT NULL
);
INSERT INTO "new_Host" ("address", "arch", "cpus", "createdAt", "did", "diskMiB", "gpus", "id", "lastSeenAt", "maxSlots", "memoryMiB", "pricePerCpuSecond", "updatedAt") SELECT "address", "arch", "cpus", "createdAt", "did", "diskMiB", "gpus", "id", "lastSeenAt", "maxSlots", "memoryMiB", "pricePerCpuSecond", "updatedAt" FROM "Host";
DROP TABLE "Host";
ALTER TABLE "new_Host" RENAME TO "Host";
CREATE UNIQUE INDEX "Host_address_key" ON "Host"("address");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

