// A sidecar RouteConfiguration written straight to bytes, one virtual host at a time, without
// building its plain object: on a 10,000-Service mesh the outbound table is 10,000 virtual hosts
// and 80,000 domains in one object, built whole, then walked by the encoder and again by the
// validation rules, and old enough by then to be promoted. The bytes are exactly those of
// `encodeMessage` on `{ name, virtualHosts: [{ name, domains, routes }, ...] }` (fields in
// field-number order; each route through the direct encoder), and what varies is checked with
// Envoy's own compiled rules (`fieldPasses`): the configuration's name, and each virtual host's
// name, domains and routes. The fields left unset break no rule (checked once, at the first use).
// Anything a rule refuses, and anything unusual, is left to the general path: encode the object
// and check it whole, which reports what is wrong.
import type protobuf from 'protobufjs';
import { FlatWriter } from '../envoy/flat-writer.js';
import { fieldTag, writeMessageBody } from '../envoy/direct-encode.js';
import { messageType } from '../envoy/protos.js';
import { fieldPasses, validateMessage } from '../envoy/validation-rules.js';

/**
 * Writes one RouteConfiguration: the name, then each virtual host as it comes. Its bytes are
 * written in the encoders' scratch, so nothing else may be encoded until `finish` (and its
 * result is valid only until the next encode: the cache copies what it keeps).
 */
export class RouteConfigurationWriter {
  private readonly plan = (layout ??= planLayout());
  private readonly writer = new FlatWriter();
  /** False once a value may break a rule: the general path then encodes and checks the whole. */
  private passing: boolean;

  /** `virtualHosts`: how many are expected, to make room for them at once. */
  constructor(name: string, virtualHosts = 0) {
    // A sidecar's virtual host (its name, 8 domains, a route) is about 250 bytes: the start-up
    // table of 10,000 hosts would otherwise double the encoders' scratch six times from 64 KiB.
    this.writer.reserve(virtualHosts * BYTES_PER_VIRTUAL_HOST);
    this.passing = typeof name === 'string' && this.plan.configName(name);
    if (this.passing) this.writer.uint32(this.plan.tags.configName).string(name);
  }

  /** Adds a virtual host; false when it (and so the configuration) is left to the general path. */
  virtualHost(name: string, domains: readonly string[], routes: readonly object[]): boolean {
    const { plan, writer } = this;
    if (!this.passing) return false;
    this.passing = typeof name === 'string' && plan.hostName(name) && plan.domains(domains) && plan.routes(routes);
    if (!this.passing) return false;
    writer.uint32(plan.tags.virtualHosts).fork();
    writer.uint32(plan.tags.hostName).string(name);
    for (let i = 0; i < domains.length; i++) {
      const domain = domains[i];
      if (typeof domain !== 'string') return (this.passing = false);
      writer.uint32(plan.tags.domains).string(domain);
    }
    for (let i = 0; i < routes.length; i++) {
      writer.uint32(plan.tags.routes).fork();
      // Depth 2: a route sits in a virtual host in the configuration.
      if (!writeMessageBody(writer, plan.route, routes[i], 2, messageType)) return (this.passing = false);
      writer.ldelim();
    }
    writer.ldelim();
    return true;
  }

  /** The bytes, or undefined when the general path is to encode and check the whole configuration. */
  finish(): Uint8Array | undefined {
    return this.passing ? this.writer.view() : undefined;
  }
}

/** About a sidecar virtual host's bytes, rounded up. */
const BYTES_PER_VIRTUAL_HOST = 256;

interface Layout {
  tags: Record<'configName' | 'virtualHosts' | 'hostName' | 'domains' | 'routes', number>;
  route: protobuf.Type;
  configName: (value: unknown) => boolean;
  hostName: (value: unknown) => boolean;
  domains: (value: unknown) => boolean;
  routes: (value: unknown) => boolean;
}

let layout: Layout | undefined;

/** Field numbers and rules, read from Envoy's protos once. */
function planLayout(): Layout {
  const configuration = messageType('envoy.config.route.v3.RouteConfiguration');
  const virtualHost = messageType('envoy.config.route.v3.VirtualHost');
  // Every other field is left unset: with the written ones passing, nothing may be found. And the
  // list of virtual hosts is not checked here: it must have no rules of its own.
  if (
    validateMessage(configuration, { name: 'probe' }).length > 0 ||
    validateMessage(virtualHost, { name: 'probe', domains: ['probe'] }).length > 0 ||
    configuration.fields.virtualHosts.parsedOptions?.length
  ) {
    throw new Error('a RouteConfiguration or VirtualHost with only its name, domains and routes set must pass the rules');
  }
  return {
    tags: {
      configName: fieldTag(configuration, 'name'),
      virtualHosts: fieldTag(configuration, 'virtualHosts'),
      hostName: fieldTag(virtualHost, 'name'),
      domains: fieldTag(virtualHost, 'domains'),
      routes: fieldTag(virtualHost, 'routes'),
    },
    route: messageType('envoy.config.route.v3.Route'),
    configName: fieldPasses(configuration, 'name'),
    hostName: fieldPasses(virtualHost, 'name'),
    domains: fieldPasses(virtualHost, 'domains'),
    routes: fieldPasses(virtualHost, 'routes'),
  };
}
