/** The path of one snapshot of a VM. */
import { z } from 'zod';
import { VmPath } from '../../schemas.ts';

export const SnapshotPath = VmPath.extend({
  snapshot: z.string().meta({ description: 'The snapshot’s name (a lowercase DNS label)', example: 'before-upgrade' }),
});
