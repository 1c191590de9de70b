/**
 * Every endpoint of the API, one file each: the app serves this list (src/route.ts `mountRoutes`) and
 * `/openapi.json` documents it (src/openapi.ts), in this order. The dashboard (`/admin`), the VM page
 * (`/ui`, src/ui/routes.ts, which calls these routes in-process) and the reference itself (`/openapi.json`,
 * `/docs`) are not part of the documented API and are served apart.
 */
import type { Route } from '../route.ts';
import images from './catalog/images.ts';
import regions from './catalog/regions.ts';
import live from './health/live.ts';
import ready from './health/ready.ts';
import cordonHost from './hosts/cordon.ts';
import hostDrift from './hosts/drift.ts';
import cleanDrift from './hosts/drift-clean.ts';
import uncordonHost from './hosts/uncordon.ts';
import cancelJob from './jobs/cancel.ts';
import jobEvents from './jobs/events.ts';
import getJob from './jobs/get.ts';
import listJobs from './jobs/list.ts';
import legacyCreate from './legacy/create.ts';
import legacyDelete from './legacy/delete.ts';
import legacyEditTags from './legacy/edit-tags.ts';
import getImages from './legacy/get-images.ts';
import legacyList from './legacy/list.ts';
import legacyStart from './legacy/start.ts';
import legacyStop from './legacy/stop.ts';
import metrics from './metrics.ts';
import createSnapshot from './snapshots/create.ts';
import deleteSnapshot from './snapshots/delete.ts';
import listSnapshots from './snapshots/list.ts';
import revertSnapshot from './snapshots/revert.ts';
import signOutToken from './tokens/sessions.ts';
import vmConsole from './vms/console.ts';
import createVm from './vms/create.ts';
import deleteVm from './vms/delete.ts';
import getVm from './vms/get.ts';
import listVms from './vms/list.ts';
import rebootVm from './vms/reboot.ts';
import rebuildVm from './vms/rebuild.ts';
import resizeVm from './vms/resize.ts';
import startVm from './vms/start.ts';
import stopVm from './vms/stop.ts';
import tagVm from './vms/tags.ts';
import createWebhook from './webhooks/create.ts';
import deleteWebhook from './webhooks/delete.ts';
import deliveries from './webhooks/deliveries.ts';
import listWebhooks from './webhooks/list.ts';
import redeliver from './webhooks/redeliver.ts';
import rotateSecret from './webhooks/rotate-secret.ts';

export const ROUTES: readonly Route[] = [
  live,
  ready,
  regions,
  images,
  cordonHost,
  uncordonHost,
  hostDrift,
  cleanDrift,
  getImages,
  createVm,
  listVms,
  getVm,
  vmConsole,
  startVm,
  stopVm,
  rebootVm,
  rebuildVm,
  resizeVm,
  tagVm,
  deleteVm,
  createSnapshot,
  listSnapshots,
  revertSnapshot,
  deleteSnapshot,
  listJobs,
  getJob,
  jobEvents,
  cancelJob,
  createWebhook,
  listWebhooks,
  deleteWebhook,
  rotateSecret,
  deliveries,
  redeliver,
  signOutToken,
  legacyCreate,
  legacyList,
  legacyStart,
  legacyStop,
  legacyEditTags,
  legacyDelete,
  metrics,
];
