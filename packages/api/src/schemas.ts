import { z } from 'zod';
import { ENTRY_TYPES, JOB_STATUSES, LOT_SOURCES, WALLET_KINDS } from '@credits/domain';

export { jobSchema } from '@credits/rules';

/** Ids we issue are short; anything longer is not ours. */
export const idSchema = z.string().min(1).max(100);
export const workspaceIdSchema = idSchema;
export const idempotencyKeySchema = z.string().min(1).max(200);
export const walletSchema = z.enum(WALLET_KINDS);
export const entryTypeSchema = z.enum(ENTRY_TYPES);
export const jobStatusSchema = z.enum(JOB_STATUSES);
export const lotSourceSchema = z.enum(LOT_SOURCES);
/** Credits: whole, positive, and far below 2^53. */
export const creditsSchema = z.number().int().positive().max(1_000_000_000);
/** Epoch milliseconds. */
export const epochMsSchema = z.number().int().min(0).max(8_640_000_000_000_000);
export const reasonTextSchema = z.string().trim().min(1).max(500);
export const cursorSchema = z.string().min(1).max(200);
