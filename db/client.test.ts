import { PrismaClientKnownRequestError } from '@prisma/client/runtime/client';
import { isUniqueViolation } from './client';

/** What @prisma/adapter-pg and @prisma/adapter-better-sqlite3 throw (driver-adapter-utils' DriverAdapterError). */
const adapterError = (kind: string) => Object.assign(new Error(kind), { name: 'DriverAdapterError', cause: { kind } });
const known = (code: string, meta?: Record<string, unknown>) => new PrismaClientKnownRequestError('refused', { code, clientVersion: '6.19.3', meta });

describe('isUniqueViolation', () => {
  it('knows a taken unique key from either client or straight from a driver adapter', () => {
    expect(isUniqueViolation(known('P2002'))).toBe(true);
    expect(isUniqueViolation(known('P2010', { driverAdapterError: adapterError('UniqueConstraintViolation') }))).toBe(true);
    expect(isUniqueViolation(adapterError('UniqueConstraintViolation'))).toBe(true);
  });

  it('is false for every other error', () => {
    expect(isUniqueViolation(known('P2025'))).toBe(false);
    expect(isUniqueViolation(known('P2010', { driverAdapterError: adapterError('NullConstraintViolation') }))).toBe(false);
    expect(isUniqueViolation(adapterError('ForeignKeyConstraintViolation'))).toBe(false);
    expect(isUniqueViolation(Object.assign(new Error('Unique constraint failed'), { code: 'P2002' }))).toBe(false);
    expect(isUniqueViolation(null)).toBe(false);
    expect(isUniqueViolation('P2002')).toBe(false);
  });
});
