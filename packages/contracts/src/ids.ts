/** Ids clients see. A job id is `job_` and 32 hex digits (a UUID without dashes); scheduled jobs have other ids. */
export const JOB_ID_RE = /^job_[a-f0-9]{32}$/;

/** Whether `id` is a job id a client was given (not a scheduled job's). */
export function isJobId(id: string): boolean {
  return JOB_ID_RE.test(id);
}
