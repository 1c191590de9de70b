/**
 * Every job kind's processor, one file each (snapshot.ts holds the three snapshot kinds): the worker runs
 * the one of a job's kind (processor.ts). A kind without one, or with two, stops the worker at start.
 */
import consoleRead from './console.ts';
import create from './create.ts';
import { byKind, type Processor } from './define.ts';
import deleteVm from './delete.ts';
import driftClean from './drift-clean.ts';
import editTags from './edit-tags.ts';
import imageCache from './image-cache.ts';
import reboot from './reboot.ts';
import rebuild from './rebuild.ts';
import refresh from './refresh.ts';
import resize from './resize.ts';
import { snapshotCreate, snapshotDelete, snapshotRevert } from './snapshot.ts';
import start from './start.ts';
import stop from './stop.ts';

export const PROCESSORS: readonly Processor[] = [
  create,
  start,
  stop,
  reboot,
  deleteVm,
  editTags,
  rebuild,
  resize,
  snapshotCreate,
  snapshotRevert,
  snapshotDelete,
  refresh,
  driftClean,
  imageCache,
  consoleRead,
];

/** The processor of each job kind (checked: every kind has exactly one). */
export const PROCESSOR_OF = byKind(PROCESSORS);
