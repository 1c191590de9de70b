/**
 * Typed errors of the hypervisor library. Every error says whether a retry can help (`retryable`)
 * and carries the context an operator needs (argv, exit code, stderr), never secrets.
 */
// The codes live in contracts (the job error codes include them); re-exported for the library's users.
import { LIBVIRT_ERROR_CODES, type LibvirtErrorCode } from '@provisioner/contracts/error-codes';

export { LIBVIRT_ERROR_CODES, type LibvirtErrorCode };

export interface ErrorContext {
  host?: string;
  argv?: readonly string[];
  exitCode?: number | null;
  signal?: string | null;
  stderr?: string;
  [key: string]: unknown;
}

export class LibvirtError extends Error {
  override readonly name: string = 'LibvirtError';
  constructor(
    readonly code: LibvirtErrorCode,
    message: string,
    readonly retryable: boolean,
    readonly context: ErrorContext = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class InvalidArgumentError extends LibvirtError {
  override readonly name = 'InvalidArgumentError';
  constructor(message: string, context: ErrorContext = {}) {
    super('INVALID_ARGUMENT', message, false, context);
  }
}

/** The TCP connection or SSH transport failed or was lost; a new connection may work. */
export class ConnectionError extends LibvirtError {
  override readonly name = 'ConnectionError';
  constructor(message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super('CONNECTION', message, true, context, options);
  }
}

export class AuthenticationError extends LibvirtError {
  override readonly name = 'AuthenticationError';
  constructor(message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super('AUTHENTICATION', message, false, context, options);
  }
}

/** The host presented a key whose fingerprint is not the pinned one: never retried. */
export class HostKeyError extends LibvirtError {
  override readonly name = 'HostKeyError';
  constructor(message: string, context: ErrorContext = {}) {
    super('HOST_KEY', message, false, context);
  }
}

export class TimeoutError extends LibvirtError {
  override readonly name = 'TimeoutError';
  constructor(message: string, context: ErrorContext = {}) {
    super('TIMEOUT', message, true, context);
  }
}

export class CanceledError extends LibvirtError {
  override readonly name = 'CanceledError';
  constructor(message: string, context: ErrorContext = {}) {
    super('CANCELED', message, false, context);
  }
}

/** A remote command exited non-zero. Retryable unless the caller knows better. */
export class CommandFailedError extends LibvirtError {
  override readonly name = 'CommandFailedError';
  constructor(message: string, context: ErrorContext, retryable = true) {
    super('COMMAND_FAILED', message, retryable, context);
  }
}

export class ParseError extends LibvirtError {
  override readonly name = 'ParseError';
  constructor(message: string, context: ErrorContext = {}) {
    super('PARSE', message, false, context);
  }
}

export class DomainNotFoundError extends LibvirtError {
  override readonly name = 'DomainNotFoundError';
  constructor(domain: string, context: ErrorContext = {}) {
    super('DOMAIN_NOT_FOUND', `domain '${domain}' does not exist`, false, { ...context, domain });
  }
}

export class AlreadyExistsError extends LibvirtError {
  override readonly name = 'AlreadyExistsError';
  constructor(message: string, context: ErrorContext = {}) {
    super('ALREADY_EXISTS', message, false, context);
  }
}

export class ChecksumMismatchError extends LibvirtError {
  override readonly name = 'ChecksumMismatchError';
  constructor(expected: string, actual: string, context: ErrorContext = {}) {
    super('CHECKSUM_MISMATCH', `image checksum mismatch: expected sha256 ${expected}, got ${actual}`, false, {
      ...context,
      expected,
      actual,
    });
  }
}

/** HTTP 4xx from the image server will not heal by itself; 5xx and network errors may. */
export class DownloadFailedError extends LibvirtError {
  override readonly name = 'DownloadFailedError';
  constructor(message: string, retryable: boolean, context: ErrorContext = {}) {
    super('DOWNLOAD_FAILED', message, retryable, context);
  }
}

/** Another run held the VM's lock on the host for the whole wait (sh/vm-lock.sh): retrying later may work. */
export class VmLockedError extends LibvirtError {
  override readonly name = 'VmLockedError';
  constructor(message: string, context: ErrorContext = {}) {
    super('VM_LOCKED', message, true, context);
  }
}

/** No room left on the host's file system for an image or a disk: not retryable (someone must free space). */
export class HostDiskFullError extends LibvirtError {
  override readonly name = 'HostDiskFullError';
  constructor(message: string, context: ErrorContext = {}) {
    super('HOST_DISK_FULL', message, false, context);
  }
}

export function isLibvirtError(e: unknown): e is LibvirtError {
  return e instanceof LibvirtError;
}
