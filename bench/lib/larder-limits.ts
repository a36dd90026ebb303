// Limits for bench stores: one partition may hold a whole scenario's items (the default
// 5,000 would end a put scenario after 5,000 items). Every other limit keeps its default.

export const BENCH_LIMITS = { queuePartitionItemsMax: 50_000_000 } as const;
