// Structural checks for the Gateway API kinds (standard channel, the release README names): the
// fields Switchyard reads, with the bounds and patterns of the upstream CRDs, and in code the
// CEL rules the API server would run (a folder of manifests has no API server). Unknown fields
// are allowed: the CRDs have fields Switchyard does not read.
/* eslint-disable @typescript-eslint/no-explicit-any -- entries of parsed YAML, checked here field by field */
import type { GatewayApiKind } from './types.js';
import { GATEWAY_DURATION_PATTERN, GATEWAY_HOSTNAME_PATTERN, HTTP_HEADER_NAME_PATTERN } from './schema-errors.js';

export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';

/** The apiVersion each Gateway API kind carries in the standard channel. */
export const GATEWAY_API_VERSIONS: Record<GatewayApiKind, string> = {
  GatewayClass: `${GATEWAY_API_GROUP}/v1`,
  Gateway: `${GATEWAY_API_GROUP}/v1`,
  HTTPRoute: `${GATEWAY_API_GROUP}/v1`,
  GRPCRoute: `${GATEWAY_API_GROUP}/v1`,
  ReferenceGrant: `${GATEWAY_API_GROUP}/v1beta1`,
};

const SECTION_NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const hostname = { type: 'string', minLength: 1, maxLength: 253, pattern: GATEWAY_HOSTNAME_PATTERN };
const port = { type: 'integer', minimum: 1, maximum: 65535 };
const objectName = { type: 'string', minLength: 1, maxLength: 253 };
const namespaceName = { type: 'string', minLength: 1, maxLength: 63 };
const group = { type: 'string', maxLength: 253 };
const kind = { type: 'string', minLength: 1, maxLength: 63 };
const duration = { type: 'string', pattern: GATEWAY_DURATION_PATTERN };
const headerName = { type: 'string', minLength: 1, maxLength: 256, pattern: HTTP_HEADER_NAME_PATTERN };

const parentRef = {
  type: 'object',
  required: ['name'],
  properties: {
    group,
    kind,
    namespace: namespaceName,
    name: objectName,
    sectionName: { type: 'string', minLength: 1, maxLength: 253, pattern: SECTION_NAME_PATTERN },
    port,
  },
};

const backendObjectRef = {
  type: 'object',
  required: ['name'],
  properties: { group, kind, name: objectName, namespace: namespaceName, port },
};

const headerList = {
  type: 'array',
  maxItems: 16,
  items: { type: 'object', required: ['name', 'value'], properties: { name: headerName, value: { type: 'string', maxLength: 4096 } } },
};

const headerModifier = {
  type: 'object',
  properties: {
    set: headerList,
    add: headerList,
    remove: { type: 'array', maxItems: 16, items: headerName },
  },
};

const pathModifier = {
  type: 'object',
  required: ['type'],
  properties: {
    type: { type: 'string', enum: ['ReplaceFullPath', 'ReplacePrefixMatch'] },
    replaceFullPath: { type: 'string', maxLength: 1024 },
    replacePrefixMatch: { type: 'string', maxLength: 1024 },
  },
};

const routeFilter = {
  type: 'object',
  required: ['type'],
  properties: {
    type: {
      type: 'string',
      enum: ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'RequestMirror', 'ExtensionRef'],
    },
    requestHeaderModifier: headerModifier,
    responseHeaderModifier: headerModifier,
    requestRedirect: {
      type: 'object',
      properties: {
        scheme: { type: 'string', enum: ['http', 'https'] },
        hostname: { ...hostname, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' },
        path: pathModifier,
        port,
        statusCode: { type: 'integer', enum: [301, 302] },
      },
    },
    urlRewrite: {
      type: 'object',
      properties: {
        hostname: { ...hostname, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' },
        path: pathModifier,
      },
    },
    requestMirror: { type: 'object', required: ['backendRef'], properties: { backendRef: backendObjectRef } },
    extensionRef: { type: 'object', required: ['group', 'kind', 'name'], properties: { group, kind, name: objectName } },
  },
};

const backendRef = {
  ...backendObjectRef,
  properties: {
    ...backendObjectRef.properties,
    weight: { type: 'integer', minimum: 0, maximum: 1000000 },
    filters: { type: 'array', maxItems: 16, items: routeFilter },
  },
};

const matchHeaders = {
  type: 'array',
  maxItems: 16,
  items: {
    type: 'object',
    required: ['name', 'value'],
    properties: {
      type: { type: 'string', enum: ['Exact', 'RegularExpression'] },
      name: headerName,
      value: { type: 'string', minLength: 1, maxLength: 4096 },
    },
  },
};

const routeCommon = {
  parentRefs: { type: 'array', maxItems: 32, items: parentRef },
  hostnames: { type: 'array', maxItems: 16, items: hostname },
};

export const GATEWAY_API_BODY_SCHEMAS: Record<GatewayApiKind, object> = {
  GatewayClass: {
    required: ['spec'],
    properties: {
      spec: {
        type: 'object',
        required: ['controllerName'],
        properties: { controllerName: { type: 'string', minLength: 1, maxLength: 253 }, description: { type: 'string', maxLength: 64 } },
      },
    },
  },
  Gateway: {
    required: ['spec'],
    properties: {
      spec: {
        type: 'object',
        required: ['gatewayClassName', 'listeners'],
        properties: {
          gatewayClassName: { type: 'string', minLength: 1, maxLength: 253 },
          listeners: {
            type: 'array',
            minItems: 1,
            maxItems: 64,
            items: {
              type: 'object',
              required: ['name', 'port', 'protocol'],
              properties: {
                name: { type: 'string', minLength: 1, maxLength: 253, pattern: SECTION_NAME_PATTERN },
                hostname,
                port,
                protocol: { type: 'string', minLength: 1, maxLength: 255 },
                tls: {
                  type: 'object',
                  properties: {
                    mode: { type: 'string', enum: ['Terminate', 'Passthrough'] },
                    certificateRefs: { type: 'array', maxItems: 64, items: backendObjectRef },
                  },
                },
                allowedRoutes: {
                  type: 'object',
                  properties: {
                    namespaces: {
                      type: 'object',
                      properties: { from: { type: 'string', enum: ['All', 'Same', 'Selector'] }, selector: { type: 'object' } },
                    },
                    kinds: {
                      type: 'array',
                      maxItems: 8,
                      items: { type: 'object', required: ['kind'], properties: { group, kind } },
                    },
                  },
                },
              },
            },
          },
          addresses: { type: 'array', maxItems: 16, items: { type: 'object', required: ['value'] } },
        },
      },
    },
  },
  HTTPRoute: {
    required: ['spec'],
    properties: {
      spec: {
        type: 'object',
        properties: {
          ...routeCommon,
          rules: {
            type: 'array',
            maxItems: 16,
            items: {
              type: 'object',
              properties: {
                matches: {
                  type: 'array',
                  maxItems: 64,
                  items: {
                    type: 'object',
                    properties: {
                      path: {
                        type: 'object',
                        properties: {
                          type: { type: 'string', enum: ['Exact', 'PathPrefix', 'RegularExpression'] },
                          value: { type: 'string', maxLength: 1024 },
                        },
                      },
                      headers: matchHeaders,
                      queryParams: {
                        ...matchHeaders,
                        items: {
                          ...matchHeaders.items,
                          properties: { ...matchHeaders.items.properties, name: { type: 'string', minLength: 1, maxLength: 256 } },
                        },
                      },
                      method: { type: 'string', enum: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] },
                    },
                  },
                },
                filters: { type: 'array', maxItems: 16, items: routeFilter },
                backendRefs: { type: 'array', maxItems: 16, items: backendRef },
                timeouts: { type: 'object', properties: { request: duration, backendRequest: duration } },
              },
            },
          },
        },
      },
    },
  },
  GRPCRoute: {
    required: ['spec'],
    properties: {
      spec: {
        type: 'object',
        properties: {
          ...routeCommon,
          rules: {
            type: 'array',
            maxItems: 16,
            items: {
              type: 'object',
              properties: {
                matches: {
                  type: 'array',
                  maxItems: 64,
                  items: {
                    type: 'object',
                    properties: {
                      method: {
                        type: 'object',
                        properties: {
                          type: { type: 'string', enum: ['Exact', 'RegularExpression'] },
                          service: { type: 'string', maxLength: 1024 },
                          method: { type: 'string', maxLength: 1024 },
                        },
                      },
                      headers: matchHeaders,
                    },
                  },
                },
                filters: { type: 'array', maxItems: 16, items: routeFilter },
                backendRefs: { type: 'array', maxItems: 16, items: backendRef },
              },
            },
          },
        },
      },
    },
  },
  ReferenceGrant: {
    required: ['spec'],
    properties: {
      spec: {
        type: 'object',
        required: ['from', 'to'],
        properties: {
          from: {
            type: 'array',
            minItems: 1,
            maxItems: 16,
            items: { type: 'object', required: ['group', 'kind', 'namespace'], properties: { group, kind, namespace: namespaceName } },
          },
          to: {
            type: 'array',
            minItems: 1,
            maxItems: 16,
            items: { type: 'object', required: ['group', 'kind'], properties: { group, kind, name: objectName } },
          },
        },
      },
    },
  },
};

type Entry = Record<string, any>;

/** The CEL rules of the upstream CRDs (and a few of the webhook's), as messages `<field>: <problem>`. */
export function gatewayApiRules(kind: GatewayApiKind, object: Entry): string[] {
  switch (kind) {
    case 'Gateway':
      return gatewayRules(object);
    case 'HTTPRoute':
      return routeRules(object, 'HTTPRoute');
    case 'GRPCRoute':
      return routeRules(object, 'GRPCRoute');
    default:
      return [];
  }
}

function gatewayRules(gateway: Entry): string[] {
  const messages: string[] = [];
  const seen = new Set<string>();
  (gateway.spec.listeners as Entry[]).forEach((listener, i) => {
    const at = `spec.listeners[${i}]`;
    if (seen.has(listener.name))
      messages.push(`${at}.name: "${listener.name}" is used by an earlier listener; listener names must be unique`);
    seen.add(listener.name);
    if ((listener.protocol === 'HTTP' || listener.protocol === 'TCP' || listener.protocol === 'UDP') && listener.tls !== undefined) {
      messages.push(`${at}.tls: must not be set for protocol ${listener.protocol}; remove it or use HTTPS`);
    }
    if ((listener.protocol === 'HTTPS' || listener.protocol === 'TLS') && listener.tls === undefined) {
      messages.push(`${at}.tls: is required for protocol ${listener.protocol}; set tls.certificateRefs to a kubernetes.io/tls Secret`);
    }
    if ((listener.protocol === 'TCP' || listener.protocol === 'UDP') && listener.hostname !== undefined) {
      messages.push(`${at}.hostname: must not be set for protocol ${listener.protocol}`);
    }
    if (listener.allowedRoutes?.namespaces?.from === 'Selector' && listener.allowedRoutes.namespaces.selector === undefined) {
      messages.push(`${at}.allowedRoutes.namespaces.selector: is required when from is Selector`);
    }
  });
  return messages;
}

const FILTER_FIELDS: Record<string, string> = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
  RequestMirror: 'requestMirror',
  ExtensionRef: 'extensionRef',
};

function filterRules(filters: Entry[] | undefined, at: string, messages: string[]): void {
  const once = new Set<string>();
  (filters ?? []).forEach((filter, f) => {
    const here = `${at}.filters[${f}]`;
    const field = FILTER_FIELDS[filter.type];
    for (const [type, other] of Object.entries(FILTER_FIELDS)) {
      if (type !== filter.type && filter[other] !== undefined) messages.push(`${here}.${other}: must not be set for type ${filter.type}`);
    }
    if (field && filter[field] === undefined) messages.push(`${here}.${field}: is required for type ${filter.type}`);
    if (filter.type !== 'RequestMirror' && filter.type !== 'ExtensionRef') {
      if (once.has(filter.type)) messages.push(`${here}: a second ${filter.type} filter; each of these may appear once per rule`);
      once.add(filter.type);
    }
    for (const modifier of ['requestHeaderModifier', 'responseHeaderModifier']) {
      const value = filter[modifier] as Entry | undefined;
      if (!value) continue;
      const names = new Set<string>();
      for (const list of ['set', 'add'] as const) {
        (value[list] as Entry[] | undefined)?.forEach((header, h) => {
          const lower = String(header.name).toLowerCase();
          if (names.has(lower))
            messages.push(`${here}.${modifier}.${list}[${h}].name: "${header.name}" is named twice (header names ignore case)`);
          names.add(lower);
        });
      }
    }
    for (const pathOwner of ['requestRedirect', 'urlRewrite']) {
      const path = filter[pathOwner]?.path as Entry | undefined;
      if (!path) continue;
      const wanted = path.type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch';
      if (path[wanted] === undefined) messages.push(`${here}.${pathOwner}.path.${wanted}: is required for type ${path.type}`);
      const value = path[wanted];
      if (typeof value === 'string' && !value.startsWith('/')) {
        messages.push(`${here}.${pathOwner}.path.${wanted}: must start with "/" (got ${JSON.stringify(value)})`);
      }
    }
  });
  if (once.has('RequestRedirect') && once.has('URLRewrite')) {
    messages.push(`${at}.filters: RequestRedirect and URLRewrite cannot both be set on one rule`);
  }
}

function routeRules(route: Entry, kind: 'HTTPRoute' | 'GRPCRoute'): string[] {
  const messages: string[] = [];
  ((route.spec.rules ?? []) as Entry[]).forEach((rule, r) => {
    const at = `spec.rules[${r}]`;
    filterRules(rule.filters, at, messages);
    const usesPrefixReplace = ((rule.filters ?? []) as Entry[]).some(
      (f) => f.requestRedirect?.path?.type === 'ReplacePrefixMatch' || f.urlRewrite?.path?.type === 'ReplacePrefixMatch',
    );
    ((rule.matches ?? []) as Entry[]).forEach((match, m) => {
      const here = `${at}.matches[${m}]`;
      if (kind === 'HTTPRoute') {
        const type = match.path?.type ?? 'PathPrefix';
        const value = match.path?.value ?? '/';
        if (type !== 'RegularExpression' && !String(value).startsWith('/')) {
          messages.push(`${here}.path.value: must start with "/" for type ${type} (got ${JSON.stringify(value)})`);
        }
        if (type !== 'RegularExpression' && /\/\/|\/\.\.?(\/|$)|[?#]/.test(String(value))) {
          messages.push(`${here}.path.value: must not contain "//", "/./", "/../", "?" or "#" (got ${JSON.stringify(value)})`);
        }
        if (usesPrefixReplace && type !== 'PathPrefix') {
          messages.push(`${here}.path.type: a ReplacePrefixMatch filter needs every match of the rule to be PathPrefix (got ${type})`);
        }
      } else if (match.method) {
        if (match.method.service === undefined && match.method.method === undefined) {
          messages.push(`${here}.method: set service, method or both`);
        }
        if ((match.method.type ?? 'Exact') === 'Exact') {
          if (match.method.service !== undefined && !/^\.?[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*$/.test(match.method.service)) {
            messages.push(`${here}.method.service: "${match.method.service}" is not a gRPC service name such as "pkg.Service"`);
          }
          if (match.method.method !== undefined && !/^[A-Za-z_][A-Za-z_0-9]*$/.test(match.method.method)) {
            messages.push(`${here}.method.method: "${match.method.method}" is not a gRPC method name`);
          }
        }
      }
    });
    if (usesPrefixReplace && (rule.matches ?? []).length > 1) {
      messages.push(`${at}.matches: a ReplacePrefixMatch filter allows at most one match per rule`);
    }
    ((rule.backendRefs ?? []) as Entry[]).forEach((ref, b) => {
      const isService = (ref.group ?? '') === '' && (ref.kind ?? 'Service') === 'Service';
      if (isService && ref.port === undefined) messages.push(`${at}.backendRefs[${b}].port: is required when the backend is a Service`);
      filterRules(ref.filters, `${at}.backendRefs[${b}]`, messages);
    });
    if (kind === 'HTTPRoute' && rule.timeouts?.request !== undefined && rule.timeouts?.backendRequest !== undefined) {
      const request = durationMs(rule.timeouts.request);
      const backend = durationMs(rule.timeouts.backendRequest);
      if (request !== 0 && backend > request) {
        messages.push(
          `${at}.timeouts.backendRequest: ${rule.timeouts.backendRequest} exceeds timeouts.request ${rule.timeouts.request}; it must not`,
        );
      }
    }
  });
  return messages;
}

/** A Gateway API duration ("1m30s", "500ms") in milliseconds; the schema checked its form. */
export function durationMs(text: string): number {
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
  let total = 0;
  for (const match of text.matchAll(/([0-9]+)(ms|h|m|s)/g)) total += Number(match[1]) * units[match[2]];
  return total;
}
