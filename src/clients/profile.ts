// Who a node is (implementation and version, from its user agent) and what it understands (its
// profile: the table's features for that version, minus known defects). Translation asks the
// profile's flags, never a user-agent string.
import {
  compareVersions,
  DEFECT_TABLE,
  FEATURE_TABLE,
  formatVersion,
  IMPLEMENTATION_NAMES,
  type ClientFeature,
  type Implementation,
  type Version,
} from './table.js';

/** The parts of envoy.config.core.v3.Node that say who the client is, as protobufjs decodes them. */
export interface ClientNode {
  userAgentName?: string | null;
  userAgentVersion?: string | null;
  userAgentBuildVersion?: { version?: { majorNumber?: number | null; minorNumber?: number | null; patch?: number | null } | null } | null;
  clientFeatures?: string[] | null;
}

export interface ClientIdentity {
  implementation: Implementation;
  /** The release version; absent when the node did not say. */
  version?: Version;
  /** The language over C-core (Python, Ruby, PHP; C++ when none is named). */
  language?: string;
  /** The node's own words: `user_agent_name` and `user_agent_version`. */
  userAgent: string;
  clientFeatures: string[];
}

const SEMVER = /(\d+)\.(\d+)(?:\.(\d+))?/;

function parseVersion(text: string | undefined | null): Version | undefined {
  const match = text ? SEMVER.exec(text) : null;
  return match ? [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)] : undefined;
}

/**
 * C-core says `C-core <core version>` and, under a wrapped language, that language's release:
 * Python sends "C-core 29.0.0 Python 1.51.1", PHP "C-core 33.0.0 1.56.0". The core version is
 * not the release version (29 is 1.51; 55 is 1.83): without the wrapper's release, `1.<core+22>`
 * is the earliest release a core major can be (the gap has only grown), so features are
 * judged by a version the client has at least, and a 1.51 C++ client counts as 1.51.0.
 */
function coreRelease(userAgentVersion: string): Version | undefined {
  const afterCore = userAgentVersion.replace(/^\s*C-core\s+\S+/, '');
  const wrapped = parseVersion(afterCore);
  if (wrapped) return wrapped;
  const core = parseVersion(userAgentVersion);
  return core ? [1, core[0] + 22, 0] : undefined;
}

/** Identifies a node from what it says in its first request. Unrecognised names are `unknown`. */
export function identifyClient(node: ClientNode): ClientIdentity {
  const name = (node.userAgentName ?? '').trim();
  const versionText = (node.userAgentVersion ?? '').trim();
  const identity = (implementation: Implementation, version: Version | undefined, language?: string): ClientIdentity => ({
    implementation,
    ...(version ? { version } : {}),
    ...(language ? { language } : {}),
    userAgent: [name, versionText].filter((part) => part !== '').join(' ') || '(none)',
    clientFeatures: [...(node.clientFeatures ?? [])],
  });
  if (/^envoy$/i.test(name)) {
    const build = node.userAgentBuildVersion?.version;
    const version: Version | undefined =
      build && build.majorNumber != null ? [build.majorNumber, build.minorNumber ?? 0, build.patch ?? 0] : parseVersion(versionText);
    return identity('envoy', version);
  }
  if (/^gRPC C-core\b/i.test(name)) {
    const language = /\b(Python|Ruby|PHP|C#|Objective-C)\s*$/i.exec(name)?.[1] ?? 'C++';
    return identity('grpc-core', coreRelease(versionText), language);
  }
  if (/^gRPC Java\b/i.test(name)) return identity('grpc-java', parseVersion(versionText));
  if (/^gRPC Go\b/i.test(name)) return identity('grpc-go', parseVersion(versionText));
  // @grpc/grpc-js-xds says "gRPC Node Pure JS" and its own package version.
  if (/^gRPC Node\b/i.test(name)) return identity('grpc-node', parseVersion(versionText));
  return identity('unknown', undefined);
}

/** "gRPC C-core 1.51.1 (Python)", "Envoy 1.28.0", "gRPC Node (version not sent)". */
export function describeClient(identity: ClientIdentity): string {
  if (identity.implementation === 'unknown') return `unknown client "${identity.userAgent}"`;
  const name = IMPLEMENTATION_NAMES[identity.implementation];
  const version = identity.version ? formatVersion(identity.version) : '(version not sent)';
  const language = identity.implementation === 'grpc-core' && identity.language ? ` (${identity.language})` : '';
  return `${name} ${version}${language}`;
}

/** `grpc-core/1.51.1`, `envoy/1.28.0`, `grpc-node/latest`, `unknown`: a short label for tables and metrics. */
export function clientLabel(identity: ClientIdentity): string {
  if (identity.implementation === 'unknown') return 'unknown';
  return `${identity.implementation}/${identity.version ? formatVersion(identity.version) : 'latest'}`;
}

export interface ClientProfile {
  identity: ClientIdentity;
  /** Equal keys, equal profiles (implementation and version). */
  key: string;
  has(feature: ClientFeature): boolean;
  /** Why the client lacks a feature ("gRPC C-core 1.51.1 crashes on ..."); undefined when it has it. */
  lacks(feature: ClientFeature): string | undefined;
}

/**
 * The profile of an identified client. A known implementation that sends no version is taken
 * at its newest release (real clients always send one; hand-written test nodes often do not).
 * An unknown client gets none of the table's features: the most conservative profile.
 */
export function clientProfile(identity: ClientIdentity): ClientProfile {
  const key = identity.implementation === 'unknown' ? 'unknown' : clientLabel(identity);
  const who = describeClient(identity);
  const missing = new Map<ClientFeature, string>();
  for (const row of FEATURE_TABLE) {
    if (identity.implementation === 'unknown') {
      missing.set(row.feature, `${who} is served the most conservative profile (no ${row.feature})`);
      continue;
    }
    const since = row.since[identity.implementation];
    if (!since) missing.set(row.feature, `${who} has no ${row.feature}`);
    else if (identity.version && compareVersions(identity.version, since) < 0) {
      missing.set(row.feature, `${who} has no ${row.feature} (from ${formatVersion(since)})`);
    }
  }
  for (const defect of DEFECT_TABLE) {
    const version = identity.version;
    if (defect.implementation !== identity.implementation || !version || missing.has(defect.feature)) continue;
    if (compareVersions(version, defect.from) >= 0 && compareVersions(version, defect.fixed) < 0) {
      missing.set(defect.feature, `${who} ${defect.effect} (${defect.source}; fixed in ${formatVersion(defect.fixed)})`);
    }
  }
  return { identity, key, has: (feature) => !missing.has(feature), lacks: (feature) => missing.get(feature) };
}

const IMPLEMENTATIONS: readonly Implementation[] = ['envoy', 'grpc-core', 'grpc-java', 'grpc-go', 'grpc-node', 'unknown'];

/**
 * A client named as `<implementation>/<version>` (`grpc-core/1.51.1`, `envoy/1.28.0`, `unknown`),
 * as `render --client` takes it. Throws an Error saying what is accepted.
 */
export function parseClientLabel(text: string): ClientIdentity {
  const [implementation, versionText, ...rest] = text.trim().split('/');
  const accepted = `expected <implementation>/<version>, e.g. grpc-core/1.51.1, with implementation one of ${IMPLEMENTATIONS.join(', ')}`;
  if (!(IMPLEMENTATIONS as readonly string[]).includes(implementation) || rest.length > 0) {
    throw new Error(`"${text}": ${accepted}`);
  }
  const version = versionText === undefined || versionText === 'latest' ? undefined : parseVersion(versionText);
  if (versionText !== undefined && versionText !== 'latest' && (!version || !/^\d+\.\d+(\.\d+)?$/.test(versionText))) {
    throw new Error(`"${text}": the version must be major.minor[.patch] or latest; ${accepted}`);
  }
  return {
    implementation: implementation as Implementation,
    ...(version && implementation !== 'unknown' ? { version } : {}),
    userAgent: `(render --client ${text})`,
    clientFeatures: [],
  };
}
