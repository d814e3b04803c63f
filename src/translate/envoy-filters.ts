// Envoy type URLs and filter entries that several translators emit, written once. Shared
// objects: resources are never mutated after translation (the cache memoizes by identity).
export const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const DOWNSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';

/** The router: last of every HTTP filter list. */
export const ROUTER_FILTER = {
  name: 'envoy.filters.http.router',
  typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
};

/** Restores a captured connection's original destination (the sidecar's virtual listeners). */
export const ORIGINAL_DST_FILTER = {
  name: 'envoy.filters.listener.original_dst',
  typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst' },
};

/** Reads SNI and tells TLS from plain text, for chains that match on either. */
export const TLS_INSPECTOR_FILTER = {
  name: 'envoy.filters.listener.tls_inspector',
  typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' },
};
