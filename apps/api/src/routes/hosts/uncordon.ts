/** `POST /v1/regions/{region}/hosts/{host}/uncordon` (admin): the host takes new VMs again. */
import { HostCordonView, HostPath } from '@provisioner/contracts/api';
import { defineRoute } from '../../route.ts';
import { cordonView, findHost, HOST_ADMIN } from './cordon.ts';

export default defineRoute({
  ...HOST_ADMIN,
  method: 'post',
  path: '/v1/regions/{region}/hosts/{host}/uncordon',
  summary: 'Uncordon a host: it takes new VMs again (admin)',
  request: { params: HostPath },
  responses: { 200: { description: 'The host’s state', schema: HostCordonView } },
  handler: async (c, s, { params }) => {
    const { region, host } = findHost(s, params);
    const was = await s.cordons.uncordon(region.region_name, host);
    const by = c.get('caller')?.name ?? 'unknown';
    c.get('logger').info({ region: region.region_name, host, by, was_cordoned: was, request_id: c.get('requestId') }, 'host uncordoned');
    return c.json(cordonView(region.region_name, host, null));
  },
});
