/**
 * The libvirt library's error codes, the part of the closed set of job error codes (job-errors.ts) a host
 * can cause. No dependencies, so the library imports them (`@provisioner/contracts/error-codes`) without
 * the rest of contracts, as it does the name rules.
 */
export const LIBVIRT_ERROR_CODES = [
  /** A name, tag or spec the host-side checks refused. */
  'INVALID_ARGUMENT',
  'CONNECTION',
  'AUTHENTICATION',
  'HOST_KEY',
  'TIMEOUT',
  'CANCELED',
  'COMMAND_FAILED',
  'PARSE',
  'DOMAIN_NOT_FOUND',
  'ALREADY_EXISTS',
  'CHECKSUM_MISMATCH',
  'DOWNLOAD_FAILED',
  /**
   * Another run of an operation on the VM held the VM's lock on the host for the whole wait (a job a
   * worker cut off from Redis still ran when another worker took it over). Retryable.
   */
  'VM_LOCKED',
  /** The host's disks or images file system has no room for the image or the VM's disk. Not retryable. */
  'HOST_DISK_FULL',
] as const;
/** A closed set: the worker maps each code to a job error code (a Record over this union, checked by the compiler). */
export type LibvirtErrorCode = (typeof LIBVIRT_ERROR_CODES)[number];
