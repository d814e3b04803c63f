// Structural checks for the Kubernetes kinds Switchyard reads: only the fields it uses, in
// the same JSON-schema form as the CRD so every kind's messages look alike. Unknown fields
// are allowed here (these kinds have many fields Switchyard ignores); checks JSON schema
// cannot say (cross-field rules) follow in code.
/* eslint-disable @typescript-eslint/no-explicit-any -- entries of parsed YAML, checked here field by field */
import { isIPv4, isIPv6 } from 'node:net';
import type { ValidateFunction } from 'ajv';
import { GATEWAY_API_KINDS, type GatewayApiKind, type ResourceKind } from './types.js';
import { GATEWAY_API_BODY_SCHEMAS, GATEWAY_API_VERSIONS, gatewayApiRules } from './gateway-api-schemas.js';
import { createKubeAjv, describeErrors, DNS1035_LABEL_PATTERN, DNS1123_LABEL_PATTERN, DNS1123_SUBDOMAIN_PATTERN } from './schema-errors.js';

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** The apiVersion each kind must carry. */
export const API_VERSIONS: Record<ResourceKind, string> = {
  Service: 'v1',
  EndpointSlice: 'discovery.k8s.io/v1',
  Ingress: 'networking.k8s.io/v1',
  IngressClass: 'networking.k8s.io/v1',
  Secret: 'v1',
  Pod: 'v1',
  TrafficPolicy: 'switchyard.dev/v1alpha1',
  AccessPolicy: 'switchyard.dev/v1alpha1',
  Namespace: 'v1',
  ...GATEWAY_API_VERSIONS,
};

export const CLUSTER_SCOPED_KINDS: ReadonlySet<ResourceKind> = new Set(['IngressClass', 'GatewayClass', 'Namespace']);

const stringMap = { type: 'object', additionalProperties: { type: 'string' } };
const port = { type: 'integer', minimum: 1, maximum: 65535 };

function metadataSchema(kind: ResourceKind): object {
  // Service names become DNS names (name.namespace.svc), hence the stricter DNS-1035 label.
  const name =
    kind === 'Service'
      ? { type: 'string', minLength: 1, maxLength: 63, pattern: DNS1035_LABEL_PATTERN }
      : { type: 'string', minLength: 1, maxLength: 253, pattern: DNS1123_SUBDOMAIN_PATTERN };
  return {
    type: 'object',
    required: ['name'],
    properties: {
      name,
      namespace: { type: 'string', minLength: 1, maxLength: 63, pattern: DNS1123_LABEL_PATTERN },
      generation: { type: 'integer', minimum: 0 },
      resourceVersion: { type: 'string' },
      uid: { type: 'string' },
      labels: stringMap,
      annotations: stringMap,
    },
  };
}

const ingressBackend = {
  type: 'object',
  oneOf: [{ required: ['service'] }, { required: ['resource'] }],
  properties: {
    service: {
      type: 'object',
      required: ['name', 'port'],
      properties: {
        name: { type: 'string', minLength: 1, pattern: DNS1035_LABEL_PATTERN },
        port: {
          type: 'object',
          oneOf: [{ required: ['number'] }, { required: ['name'] }],
          properties: { number: port, name: { type: 'string', minLength: 1 } },
        },
      },
    },
    resource: {
      type: 'object',
      required: ['kind', 'name'],
      properties: { apiGroup: { type: 'string' }, kind: { type: 'string', minLength: 1 }, name: { type: 'string', minLength: 1 } },
    },
  },
};

const BODY_SCHEMAS: Record<ResourceKind, object | undefined> = {
  Service: {
    required: ['spec'],
    properties: {
      spec: {
        type: 'object',
        properties: {
          type: { type: 'string', enum: ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'] },
          clusterIP: { type: 'string' },
          ports: {
            type: 'array',
            items: {
              type: 'object',
              required: ['port'],
              properties: {
                name: { type: 'string', maxLength: 63, pattern: DNS1123_LABEL_PATTERN },
                port,
                // A number, or the name of a container port (IANA_SVC_NAME).
                targetPort: {
                  type: ['integer', 'string'],
                  minimum: 1,
                  maximum: 65535,
                  minLength: 1,
                  maxLength: 15,
                  pattern: DNS1123_LABEL_PATTERN,
                },
                protocol: { type: 'string', enum: ['TCP', 'UDP', 'SCTP'] },
                appProtocol: { type: 'string' },
              },
            },
          },
          selector: stringMap,
          sessionAffinity: { type: 'string', enum: ['None', 'ClientIP'] },
        },
      },
    },
  },
  EndpointSlice: {
    required: ['addressType'],
    properties: {
      addressType: { type: 'string', enum: ['IPv4', 'IPv6', 'FQDN'] },
      endpoints: {
        type: 'array',
        items: {
          type: 'object',
          required: ['addresses'],
          properties: {
            addresses: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
            conditions: {
              type: 'object',
              properties: { ready: { type: 'boolean' }, serving: { type: 'boolean' }, terminating: { type: 'boolean' } },
            },
            zone: { type: 'string' },
            nodeName: { type: 'string' },
            hostname: { type: 'string' },
            targetRef: { type: 'object' },
          },
        },
      },
      ports: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            // null is Kubernetes' "all ports" for a selector-less Service.
            port: { type: ['integer', 'null'], minimum: 1, maximum: 65535 },
            protocol: { type: 'string', enum: ['TCP', 'UDP', 'SCTP'] },
            appProtocol: { type: 'string' },
          },
        },
      },
    },
  },
  Ingress: {
    required: ['spec'],
    properties: {
      spec: {
        type: 'object',
        properties: {
          ingressClassName: { type: 'string', minLength: 1 },
          defaultBackend: ingressBackend,
          tls: {
            type: 'array',
            items: {
              type: 'object',
              properties: { hosts: { type: 'array', items: { type: 'string', minLength: 1 } }, secretName: { type: 'string' } },
            },
          },
          rules: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                host: { type: 'string', minLength: 1 },
                http: {
                  type: 'object',
                  required: ['paths'],
                  properties: {
                    paths: {
                      type: 'array',
                      minItems: 1,
                      items: {
                        type: 'object',
                        required: ['pathType', 'backend'],
                        properties: {
                          path: { type: 'string' },
                          pathType: { type: 'string', enum: ['Exact', 'Prefix', 'ImplementationSpecific'] },
                          backend: ingressBackend,
                        },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
  IngressClass: {
    properties: {
      spec: { type: 'object', properties: { controller: { type: 'string', minLength: 1 }, parameters: { type: 'object' } } },
    },
  },
  Secret: {
    properties: {
      type: { type: 'string', minLength: 1 },
      data: { type: 'object', additionalProperties: { type: 'string', pattern: '^[A-Za-z0-9+/]*={0,2}$' } },
      stringData: stringMap,
    },
  },
  Pod: {
    properties: {
      spec: {
        type: 'object',
        properties: {
          serviceAccountName: { type: 'string' },
          containers: {
            type: 'array',
            items: {
              type: 'object',
              required: ['name'],
              properties: {
                name: { type: 'string', minLength: 1 },
                ports: {
                  type: 'array',
                  items: {
                    type: 'object',
                    required: ['containerPort'],
                    properties: {
                      name: { type: 'string', maxLength: 15, pattern: DNS1123_LABEL_PATTERN },
                      containerPort: port,
                      protocol: { type: 'string', enum: ['TCP', 'UDP', 'SCTP'] },
                    },
                  },
                },
              },
            },
          },
        },
      },
      status: { type: 'object', properties: { podIP: { type: 'string' }, phase: { type: 'string' } } },
    },
  },
  // TrafficPolicy's body is checked against the CRD (crd-schema.ts).
  TrafficPolicy: undefined,
  // AccessPolicy's body is checked against its CRD (crd-schema.ts).
  AccessPolicy: undefined,
  Namespace: undefined,
  ...GATEWAY_API_BODY_SCHEMAS,
};

function kindSchema(kind: ResourceKind): object {
  const body = (BODY_SCHEMAS[kind] ?? {}) as { required?: string[]; properties?: object };
  return {
    type: 'object',
    required: ['metadata', ...(body.required ?? [])],
    properties: { metadata: metadataSchema(kind), ...(body.properties ?? {}) },
  };
}

const ajv = createKubeAjv();
const validators = new Map<ResourceKind, ValidateFunction>();

/** JSON-schema messages (`<field path>: <problem>`) for an object of a known kind. */
export function validateKindSchema(kind: ResourceKind, object: unknown): string[] {
  let validate = validators.get(kind);
  if (!validate) {
    validate = ajv.compile(kindSchema(kind));
    validators.set(kind, validate);
  }
  return validate(object) ? [] : describeErrors(validate.errors);
}

type Entry = Record<string, any>;

/** Rules across fields, checked once the object's shape is right. */
export function checkKindRules(kind: ResourceKind, object: Entry): string[] {
  switch (kind) {
    case 'Service':
      return serviceRules(object);
    case 'EndpointSlice':
      return endpointSliceRules(object);
    case 'Ingress':
      return ingressRules(object);
    case 'Secret':
      return secretRules(object);
    default:
      if ((GATEWAY_API_KINDS as readonly string[]).includes(kind)) return gatewayApiRules(kind as GatewayApiKind, object);
      return [];
  }
}

function serviceRules(service: Entry): string[] {
  const messages: string[] = [];
  const spec = service.spec as Entry;
  const ports = (spec.ports ?? []) as Entry[];
  if (ports.length === 0 && spec.type !== 'ExternalName' && spec.clusterIP !== 'None') {
    messages.push('spec.ports: a Service needs at least one port (or clusterIP: None for a headless Service)');
  }
  const seenNames = new Set<string>();
  const seenPorts = new Set<string>();
  ports.forEach((p, index) => {
    if (ports.length > 1 && !p.name) messages.push(`spec.ports[${index}].name: is required when a Service has more than one port`);
    if (p.name) {
      if (seenNames.has(p.name)) messages.push(`spec.ports[${index}].name: duplicate port name "${p.name}"`);
      seenNames.add(p.name);
    }
    const key = `${p.port}/${p.protocol ?? 'TCP'}`;
    if (seenPorts.has(key)) messages.push(`spec.ports[${index}].port: duplicate port ${key}`);
    seenPorts.add(key);
    if (typeof p.targetPort === 'string' && !/[a-z]/.test(p.targetPort)) {
      messages.push(
        `spec.ports[${index}].targetPort: a named port must contain a letter; write a number without quotes (got "${p.targetPort}")`,
      );
    }
  });
  return messages;
}

function endpointSliceRules(slice: Entry): string[] {
  const messages: string[] = [];
  const serviceName = slice.metadata.labels?.[SERVICE_NAME_LABEL];
  if (typeof serviceName !== 'string' || serviceName === '') {
    messages.push(`metadata.labels["${SERVICE_NAME_LABEL}"]: is required: it names the Service these endpoints belong to`);
  }
  const isAddress = slice.addressType === 'IPv4' ? isIPv4 : slice.addressType === 'IPv6' ? isIPv6 : undefined;
  if (isAddress) {
    ((slice.endpoints ?? []) as Entry[]).forEach((endpoint, e) => {
      (endpoint.addresses as string[]).forEach((address, a) => {
        if (!isAddress(address)) {
          messages.push(`endpoints[${e}].addresses[${a}]: must be an ${slice.addressType} address, as addressType says (got "${address}")`);
        }
      });
    });
  }
  return messages;
}

function ingressRules(ingress: Entry): string[] {
  const messages: string[] = [];
  const spec = ingress.spec as Entry;
  if (!spec.defaultBackend && !(spec.rules?.length > 0)) {
    messages.push('spec: an Ingress needs spec.rules or spec.defaultBackend');
  }
  ((spec.tls ?? []) as Entry[]).forEach((tls, t) => {
    ((tls.hosts ?? []) as unknown[]).forEach((host, h) => {
      const problem = ingressHostProblem(host);
      if (problem) messages.push(`spec.tls[${t}].hosts[${h}]: ${problem}`);
    });
  });
  ((spec.rules ?? []) as Entry[]).forEach((rule, r) => {
    const problem = rule.host === undefined ? undefined : ingressHostProblem(rule.host);
    if (problem) messages.push(`spec.rules[${r}].host: ${problem}`);
    ((rule.http?.paths ?? []) as Entry[]).forEach((p, i) => {
      if (p.pathType !== 'ImplementationSpecific' && !(typeof p.path === 'string' && p.path.startsWith('/'))) {
        messages.push(
          `spec.rules[${r}].http.paths[${i}].path: must start with "/" for pathType ${p.pathType} (got ${JSON.stringify(p.path ?? null)})`,
        );
      }
    });
  });
  return messages;
}

const DNS_SUBDOMAIN = new RegExp(DNS1123_SUBDOMAIN_PATTERN);

/** Kubernetes' rule for an Ingress host: a DNS-1123 subdomain, "*." allowed first, no IP address.
 * (It becomes an Envoy virtual-host domain, where a control character is refused.) */
function ingressHostProblem(host: unknown): string | undefined {
  if (typeof host !== 'string') return undefined; // the schema names the wrong type
  if (isIPv4(host) || isIPv6(host)) return `must be a DNS name, not an IP address (got ${JSON.stringify(host)})`;
  const name = host.startsWith('*.') ? host.slice(2) : host;
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name))
    return `must be a lower-case DNS name, optionally starting with "*." (got ${JSON.stringify(host)})`;
  return undefined;
}

function secretRules(secret: Entry): string[] {
  if (secret.type !== 'kubernetes.io/tls') return [];
  const messages: string[] = [];
  for (const key of ['tls.crt', 'tls.key']) {
    if (secret.data?.[key] === undefined && secret.stringData?.[key] === undefined) {
      messages.push(`data["${key}"]: is required for a Secret of type kubernetes.io/tls`);
    }
  }
  return messages;
}
