/** Writes docs/config.schema.json from the zod configuration schema (`npm run config-schema`). */
import { writeFileSync } from 'node:fs';
import { configJsonSchemaText } from '@provisioner/contracts';

writeFileSync(new URL('../docs/config.schema.json', import.meta.url), configJsonSchemaText());
