/**
 * Redis keys outside BullMQ's own, built here and nowhere else (the store's classes use them; tests read
 * them to check what a class wrote). All start with the prefix, whose hash tag (`{provisioner}`) puts
 * them in one cluster slot, so a script may touch any of them.
 */
export const keys = {
  /** job id → queue name, so a job can be found from its id alone (JobQueue). */
  jobQueue: (p: string, id: string) => `${p}:jobq:${id}`,
  /** ZSET of pending operation job ids of one VM, scored by seq: only the lowest may run; a job leaves it when its end is settled (VmLedger). */
  vmOps: (p: string, region: string, vm: string) => `${p}:vmops:${region}/${vm}`,
  /** The VM's last given seq (VmLedger; incremented by `enter` at submission). */
  vmSeq: (p: string, region: string, vm: string) => `${p}:vmseq:${region}/${vm}`,
  /** The host a VM lives on (set when its create is accepted, removed when it is deleted) (VmLedger). */
  vmHost: (p: string, region: string, vm: string) => `${p}:vmhost:${region}/${vm}`,
  /** JSON InventoryEntry of one host (InventoryStore). */
  inventory: (p: string, region: string, host: string) => `${p}:inv:${region}/${host}`,
  /** A random token written with every write of the host's inventory entry: readers keep a parsed entry while it is unchanged (InventoryStore). */
  inventoryVersion: (p: string, region: string, host: string) => `${p}:invver:${region}/${host}`,
  /**
   * HASH of the host's per-VM inventory patches: `#seq` a counter, and vm name → the counter's value at its last
   * patch. A refresh whose listing began before a patch keeps the patched VM (InventoryStore.putListedEntry).
   */
  inventoryPatches: (p: string, region: string, host: string) => `${p}:invpatch:${region}/${host}`,
  /** JSON HostDriftRecord of one host: what its last inventory refresh found that nobody accounts for (InventoryStore). */
  drift: (p: string, region: string, host: string) => `${p}:drift:${region}/${host}`,
  /** JSON HostInfoRecord of one host (cpus, memory, free disk), written by workers with each inventory refresh (InventoryStore). */
  hostInfo: (p: string, region: string, host: string) => `${p}:hostinfo:${region}/${host}`,
  /** JSON ImageCacheRecord of one host: its cache of catalog images as the image-cache job last saw it (InventoryStore). */
  imageCache: (p: string, region: string, host: string) => `${p}:imgcache:${region}/${host}`,
  /** HASH vm name → JSON PendingCreate: creates placed on the host that may not be in its inventory yet (VmLedger). */
  pendingCreates: (p: string, region: string, host: string) => `${p}:pending:${region}/${host}`,
  /** HASH n, vcpus, memory_mb, storage_mb: the running totals of pendingCreates (VmLedger keeps them equal). */
  pendingTotals: (p: string, region: string, host: string) => `${p}:pendsum:${region}/${host}`,
  /** JSON HostCordon of a cordoned host: it gets no new VMs until uncordoned (CordonStore). */
  hostCordon: (p: string, region: string, host: string) => `${p}:cordon:${region}/${host}`,
  /** Held for a moment while a create is placed and counted against the region's quota (RegionLock). */
  regionLock: (p: string, region: string) => `${p}:quotalock:${region}`,
  /** Set when a job's cancellation is asked for (value: who asked); workers check it before and while running (JobQueue). */
  cancel: (p: string, id: string) => `${p}:cancel:${id}`,
  /** Pub/sub channel on which job ids to cancel are announced to every worker process (JobQueue). */
  cancelChannel: (p: string) => `${p}:cancel`,
  /** Encrypted console text a `console` job read, until the API request waiting for it takes it (ConsoleStore, a minute at most). */
  console: (p: string, jobId: string) => `${p}:console:${jobId}`,
  /** Idempotency-Key record (the key is hashed with the caller's token name) (IdempotencyStore). */
  idempotency: (p: string, hash: string) => `${p}:idem:${hash}`,
  /** Request counter of one token in one rate-limit window (RateLimiter). */
  rateLimit: (p: string, token: string, window: number) => `${p}:rl:${token}:${window}`,
  /** Failed authentications from one client address (IPv4) or network (an IPv6 prefix) in the current throttle window (AuthFailureCounter). */
  authFailures: (p: string, address: string) => `${p}:authfail:${address}`,
  /** Set while a token (its SHA-256, hex) has recently authenticated from an address: it is not throttled there (AuthFailureCounter). */
  authOk: (p: string, address: string, tokenDigest: string) => `${p}:authok:${address}:${tokenDigest}`,
  /** JSON of one dashboard session, under the SHA-256 (hex) of the cookie's id (SessionStore). */
  adminSession: (p: string, idDigest: string) => `${p}:admin:session:${idDigest}`,
  /** JSON of one session of the VM page (/ui), with its CSRF token, under the SHA-256 (hex) of the cookie's id (SessionStore). */
  uiSession: (p: string, idDigest: string) => `${p}:ui:session:${idDigest}`,
  /**
   * ZSET of the sessions (both kinds, `admin:<id digest>` / `ui:<id digest>`) a token (its SHA-256, hex) signed in to,
   * scored by when each ends at the latest: signing out every session of a token (SessionStore).
   */
  tokenSessions: (p: string, tokenDigest: string) => `${p}:sessions-of:${tokenDigest}`,
  /** HASH endpoint id → registered webhook endpoint JSON, its secret encrypted (WebhookStore). */
  webhookEndpoints: (p: string) => `${p}:webhook-endpoints`,
  /** DeliverySpec JSON of one webhook delivery: what redelivery sends again (WebhookStore). */
  webhookDelivery: (p: string, id: string) => `${p}:webhook-delivery:${id}`,
  /** The BullMQ job id of a webhook delivery's latest redelivery, to tell whether one is still in flight (WebhookStore). */
  webhookRedelivery: (p: string, id: string) => `${p}:webhook-redelivery:${id}`,
  /** Held (SET NX, seconds) while a redelivery of one delivery is being checked and queued, so two requests queue one (WebhookStore). */
  webhookRedeliveryLease: (p: string, id: string) => `${p}:webhook-redelivery-lease:${id}`,
  /** LIST of the webhook delivery ids of one job, in the order they were made (WebhookStore). */
  webhookJobDeliveries: (p: string, jobId: string) => `${p}:webhook-deliveries:${jobId}`,
  /** LIST of DeliveryAttempt JSON of one job: every attempt of every webhook delivery (WebhookStore). */
  webhookLog: (p: string, jobId: string) => `${p}:webhook-log:${jobId}`,
  /** HASH of one registered endpoint's delivery counts (attempts, delivered, failed) and last error / success (WebhookStore). */
  webhookEndpointStats: (p: string, endpointId: string) => `${p}:webhook-stats:${endpointId}`,
  /** ZSET of delivery ids written but not yet handed to the delivery queue, scored by when a sender may take them (WebhookStore). */
  webhookOutbox: (p: string) => `${p}:webhook-outbox`,
  /** Set (value: event type and who wrote it) once a finished job's terminal event is in the outbox (WebhookStore). */
  webhookEnded: (p: string, jobId: string) => `${p}:webhook-ended:${jobId}`,
  /** Finish time (ms) up to which a host queue's finished jobs were checked for an ended marker (WebhookStore's sweep). */
  webhookSwept: (p: string, queue: string) => `${p}:webhook-swept:${queue}`,
};
