// One push response for every stream of a group that a change gives the same thing: the same
// resources, the same removals, at the same version. It is assembled once, with one nonce, and
// each of those streams is written the same Buffer, instead of 2,000 streams each assembling the
// same bytes around a nonce of their own. A nonce only has to tell one response of a stream from
// the others of that stream (an ACK names the response it answers), and a stream hears of one
// cache change once, so a nonce shared across streams is still unique on each. Delta and
// state-of-the-world streams of one group hear of the same change with the same content, but
// their messages differ: a response is shared only between streams of one flavour.
import type { CachedResource } from '../cache/types.js';
import type { StreamFlavour } from './events.js';

/** What a response says, apart from its nonce. */
export interface ResponseContent {
  version: string;
  resources: readonly CachedResource[];
  removed: readonly string[];
}

/** A class, not the content spread into a literal: each such copy would have a hidden class of
 * its own, and every stream's push reads these fields. */
export class SharedResponse implements ResponseContent {
  readonly version: string;
  readonly resources: readonly CachedResource[];
  readonly removed: readonly string[];

  constructor(
    content: ResponseContent,
    readonly flavour: StreamFlavour,
    readonly nonce: string,
    readonly bytes: Buffer,
  ) {
    this.version = content.version;
    this.resources = content.resources;
    this.removed = content.removed;
  }
}

/** Responses kept per change: a push can send one type twice (make, then break). */
const KEPT_PER_CHANGE = 4;

export class SharedResponses {
  /** By the cache's change record of one group and type, which every stream of the group is pushed. */
  private readonly byChange = new WeakMap<object, SharedResponse[]>();

  /**
   * The response for `change` with exactly this content: one built for another stream, or a new
   * one (`build` assembles its bytes around the nonce). `unlike` is the nonce the stream last
   * received: a response is never shared into the same stream twice in a row.
   */
  get(
    change: object,
    flavour: StreamFlavour,
    content: ResponseContent,
    unlike: string,
    nextNonce: () => string,
    build: (nonce: string) => Buffer,
  ): SharedResponse {
    let kept = this.byChange.get(change);
    const found = kept?.find((response) => response.flavour === flavour && response.nonce !== unlike && sameContent(response, content));
    if (found) return found;
    const nonce = nextNonce();
    const response = new SharedResponse(content, flavour, nonce, build(nonce));
    if (!kept) this.byChange.set(change, (kept = []));
    kept.push(response);
    if (kept.length > KEPT_PER_CHANGE) kept.shift();
    return response;
  }
}

function sameContent(a: ResponseContent, b: ResponseContent): boolean {
  if (a.version !== b.version || a.resources.length !== b.resources.length || a.removed.length !== b.removed.length) return false;
  if (a.resources !== b.resources) {
    for (let i = 0; i < a.resources.length; i++) if (a.resources[i] !== b.resources[i]) return false;
  }
  for (let i = 0; i < a.removed.length; i++) if (a.removed[i] !== b.removed[i]) return false;
  return true;
}
