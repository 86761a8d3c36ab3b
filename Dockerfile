# The dropwhy image: the exporter by default, every other command too
# (`docker run ... dropwhy:0.1.0 doctor`). Needs the privileges and mounts the
# DaemonSet in deploy/kubernetes/ gives it. scripts/image-check.sh builds it
# and runs it as the DaemonSet does (npm run test:image).
#
# The build stage builds as CI does (scripts/setup.sh: Debian packages, npm ci,
# npm run build), with only the packages building needs (--build-only), so the
# image holds the build CI tested.

FROM node:20-bookworm AS build
WORKDIR /src
COPY . .
RUN scripts/setup.sh --build-only && npm prune --omit=dev

FROM node:20-bookworm-slim
# What the addon links besides libstdc++ and libc: libbpf.so.1 and its own dependencies, libpcap.so.0.8.
# What dropwhy runs: ip (iproute2) and nft (nftables) for selftest's namespaces and drop rule and for
# --nft-trace; nsenter and setpriv come with the base (util-linux). Neither the package lists nor the
# downloaded packages stay in the image.
RUN apt-get update \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libbpf1 libelf1 zlib1g libpcap0.8 iproute2 nftables \
  && apt-get clean \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/dropwhy
COPY --from=build /src/package.json ./
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist/src ./dist/src
# The BPF object is compiled into the addon (its skeleton embeds it): no .bpf.o to copy.
COPY --from=build /src/build/native/Release/dropwhy.node ./build/native/Release/
COPY --from=build /src/node_modules ./node_modules
RUN ln -s /opt/dropwhy/bin/dropwhy.js /usr/local/bin/dropwhy
# The version is package.json's, the image tag the DaemonSet runs (test/unit/deploy.test.ts holds them together).
LABEL org.opencontainers.image.title="dropwhy" \
  org.opencontainers.image.description="Why did Linux drop my packet? Traces skb:kfree_skb with eBPF and explains every drop." \
  org.opencontainers.image.source="https://github.com/dropwhy/dropwhy" \
  org.opencontainers.image.version="0.1.0" \
  org.opencontainers.image.licenses="MIT"
EXPOSE 10025
ENTRYPOINT ["dropwhy"]
CMD ["exporter", "--listen", "0.0.0.0:10025"]
