# Switchyard's control plane image. Two stages: the first installs every dependency and
# compiles the TypeScript; the second carries only the compiled code and production
# dependencies, and runs as a non-root user.
#   docker build -t switchyard:0.1.0 .
#   docker run --rm -p 18000:18000 -p 19000:19000 switchyard:0.1.0 \
#     serve --xds-address 0.0.0.0 --admin-address 0.0.0.0

FROM node:20-slim AS build
WORKDIR /app
# Dependencies first: this layer is reused until package.json or the lock file change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:20-slim
ENV NODE_ENV=production
# glibc malloc serves buffers of 64 KiB and more with their own mappings, returned when freed.
# Its default raises that threshold after the first large free, so the ~1 MB responses of a
# crowd of proxies syncing at once are carved from the heap and stay in RSS afterwards
# (bench memory: 690 MB with 2,000 idle streams without this, 500 MB with it).
ENV MALLOC_MMAP_THRESHOLD_=65536
# Smaller buffers come from the heap, whose free top glibc hands back to the kernel as soon as it
# passes 128 KiB. A SotW change brings 2,000 ACKs of ~40 KB each (1,000 names) that are garbage a
# moment later, so every change grew the heap afresh, and each new page cost a fault: 5,500-8,900
# faults per change. A 64 MiB pad keeps that much of the top mapped (~170 faults per change;
# server CPU per change 456 -> 328 ms in the same minutes; RSS with 2,000 idle streams +8 MB).
ENV MALLOC_TOP_PAD_=67108864
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The TrafficPolicy validator reads its schema from the CRD at run time (src/sources/crd-schema.ts
# looks for deploy/crds/ above the compiled code).
COPY deploy/crds ./deploy/crds
# What `serve` serves without --kubernetes (--manifests defaults to examples).
COPY examples ./examples
# iptables for `switchyard capture --apply`, which injected pods' init containers run from this image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/*
# The base image's `node` user, by number so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 18000 19000
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["serve"]
