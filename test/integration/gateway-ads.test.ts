// A gateway and a sidecar on one ADS server (the assembled control plane, real gRPC): each gets
// its own world, the sidecar never sees gateway certificates, and a certificate rotation or a
// broken Secret reaches the gateway as exactly the change it is.
import { startSwitchyard, type Switchyard } from '../../src/app.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import type { EventSink, KubeObject, Source, SourceEvent } from '../../src/sources/types.js';
import { selfSigned, shopObjects, twoHostTlsIngress, type TestCertificate } from '../unit/gateway-fixtures.js';
import { tlsSecret, upsert } from '../support/builders.js';
import { testNode, XdsTestClient, type DeltaTestStream, type SotwTestStream } from '../support/xds-client.js';

/** Delivers a fixed initial state, then whatever the test pushes. */
class PushSource implements Source {
  private sink: EventSink | undefined;
  constructor(private readonly initial: SourceEvent[]) {}
  async start(sink: EventSink): Promise<void> {
    this.sink = sink;
    sink(this.initial);
  }
  push(...objects: KubeObject[]): void {
    this.sink!(objects.map(upsert));
  }
  async stop(): Promise<void> {}
}

const gatewayNode = testNode({ id: 'edge-gateway-1', role: 'gateway', gateway: 'edge' });
const sidecarNode = testNode({ id: 'sidecar-1' });

describe('gateway and sidecar on one ADS server', () => {
  let shopCert: TestCertificate;
  let apiCert: TestCertificate;
  let app: Switchyard | undefined;
  let client: XdsTestClient | undefined;
  let source: PushSource;

  beforeAll(() => {
    shopCert = selfSigned('shop.example.com');
    apiCert = selfSigned('api.example.com');
  });

  beforeEach(async () => {
    source = new PushSource(
      [...shopObjects(), twoHostTlsIngress(), tlsSecret('shop-tls', shopCert), tlsSecret('api-tls', apiCert)].map(upsert),
    );
    // These tests are about what a gateway is sent, not who may have it: the edge gateway's
    // Secrets go to any client here (test/integration/gateway-secrets.test.ts covers access).
    app = await startSwitchyard({
      sources: [source],
      xdsPort: 0,
      adminPort: null,
      debounce: { quietMs: 5, maxMs: 50 },
      xdsSecurity: { gatewaySecretAccess: { edge: ['*'] } },
    });
    await app.ready;
    client = new XdsTestClient(app.xdsPort);
  });

  afterEach(async () => {
    client?.close();
    await app?.stop();
  });

  /** The way Envoy starts on ADS: CDS and LDS wildcard, then EDS, RDS and SDS by the names they refer to. */
  async function syncGateway(ads: SotwTestStream) {
    ads.request({ typeUrl: TypeUrl.Cluster, node: gatewayNode });
    const cds = await ads.next(TypeUrl.Cluster);
    ads.ack(cds);
    ads.request({ typeUrl: TypeUrl.Listener });
    const lds = await ads.next(TypeUrl.Listener);
    ads.ack(lds);
    ads.request({ typeUrl: TypeUrl.ClusterLoadAssignment, resourceNames: cds.names });
    const eds = await ads.next(TypeUrl.ClusterLoadAssignment);
    ads.ack(eds);
    ads.request({ typeUrl: TypeUrl.RouteConfiguration, resourceNames: ['gateway/edge/8080', 'gateway/edge/8443'] });
    const rds = await ads.next(TypeUrl.RouteConfiguration);
    ads.ack(rds);
    ads.request({ typeUrl: TypeUrl.Secret, resourceNames: ['shop/api-tls', 'shop/shop-tls'] });
    const sds = await ads.next(TypeUrl.Secret);
    ads.ack(sds);
    await ads.barrier();
    return { cds, lds, eds, rds, sds };
  }

  it('gives the gateway its listeners, routes, used clusters and certificates, and the sidecar the mesh', async () => {
    const gateway = client!.sotw();
    const world = await syncGateway(gateway);
    // Built when the gateway connected, before its first answer: never an empty world.
    expect(world.cds.names.sort()).toEqual(['shop/frontend/80', 'shop/reviews/9080']);
    expect(world.lds.names.sort()).toEqual(['gateway/edge/8080', 'gateway/edge/8443']);
    const https = world.lds.resources.find((r) => r.name === 'gateway/edge/8443')!.value as any;
    expect(https.filterChains.map((c: any) => c.filterChainMatch.serverNames)).toEqual([['api.example.com'], ['shop.example.com']]);
    expect(world.eds.names.sort()).toEqual(['shop/frontend/80', 'shop/reviews/9080']);
    expect(world.rds.names.sort()).toEqual(['gateway/edge/8080', 'gateway/edge/8443']);
    expect(world.sds.names.sort()).toEqual(['shop/api-tls', 'shop/shop-tls']);
    const secret = world.sds.resources.find((r) => r.name === 'shop/shop-tls')!.value as any;
    expect(secret.tlsCertificate.certificateChain.inlineString).toBe(shopCert.certPem);

    const sidecar = client!.sotw();
    sidecar.request({ typeUrl: TypeUrl.Cluster, node: sidecarNode });
    const sidecarCds = await sidecar.next(TypeUrl.Cluster);
    expect(sidecarCds.names).toContain('shop/cart/8080');
    sidecar.ack(sidecarCds);
    sidecar.request({ typeUrl: TypeUrl.Listener });
    const sidecarLds = await sidecar.next(TypeUrl.Listener);
    expect(sidecarLds.names).toContain('outbound');
    expect(sidecarLds.names.some((name) => name.startsWith('gateway/'))).toBe(false);
    sidecar.ack(sidecarLds);
    // A sidecar asking for a gateway certificate by name gets nothing.
    sidecar.request({ typeUrl: TypeUrl.Secret, resourceNames: ['shop/shop-tls'] });
    await sidecar.barrier();
    expect(sidecar.pending(TypeUrl.Secret)).toEqual([]);
    expect(sidecar.received.filter((r) => r.typeUrl === TypeUrl.Secret)).toEqual([]);
    expect(gateway.protocolErrors).toEqual([]);
  });

  it('a delta sidecar subscribing to a gateway certificate gets it in removed_resources', async () => {
    const sidecar: DeltaTestStream = client!.delta();
    sidecar.request({ typeUrl: TypeUrl.Secret, subscribe: ['shop/shop-tls'], node: sidecarNode });
    const response = await sidecar.next(TypeUrl.Secret);
    expect(response.resources).toEqual([]);
    expect(response.removedResources).toEqual(['shop/shop-tls']);

    const gateway: DeltaTestStream = client!.delta();
    gateway.request({ typeUrl: TypeUrl.Secret, subscribe: ['shop/shop-tls'], node: gatewayNode });
    const granted = await gateway.next(TypeUrl.Secret);
    expect(granted.names).toEqual(['shop/shop-tls']);
  });

  it('a rotation while the gateway is connected sends exactly the new Secret', async () => {
    const gateway = client!.sotw();
    await syncGateway(gateway);
    const rotated = selfSigned('shop.example.com');
    source.push(tlsSecret('shop-tls', rotated));
    const update = await gateway.next(TypeUrl.Secret);
    gateway.ack(update);
    await gateway.barrier();
    expect(update.names).toEqual(['shop/shop-tls']);
    expect((update.resources[0].value as any).tlsCertificate.certificateChain.inlineString).toBe(rotated.certPem);
    // Listeners name the secret, not its bytes: nothing else moved.
    expect(gateway.pending().filter((r) => !r.typeUrl.includes('switchyard.test'))).toEqual([]);
  });

  it('a broken Secret drops only its host from the HTTPS listener; the other host keeps its chain', async () => {
    const gateway = client!.sotw();
    await syncGateway(gateway);
    const broken = tlsSecret('shop-tls', shopCert);
    broken.data!['tls.crt'] = Buffer.from('not a certificate').toString('base64');
    source.push(broken);
    const lds = await gateway.next(TypeUrl.Listener);
    gateway.ack(lds);
    await gateway.barrier();
    const https = lds.resources.find((r) => r.name === 'gateway/edge/8443')!.value as any;
    expect(https.filterChains.map((c: any) => c.filterChainMatch.serverNames)).toEqual([['api.example.com']]);
    expect(lds.names.sort()).toEqual(['gateway/edge/8080', 'gateway/edge/8443']);
    // The good certificate was not re-sent, and no other type moved.
    expect(gateway.pending().filter((r) => !r.typeUrl.includes('switchyard.test'))).toEqual([]);
  });
});
