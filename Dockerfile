# The dropwhy image: the exporter by default, every other command too
# (`docker run ... dropwhy:0.1.0 doctor`). Needs the privileges and mounts the
# DaemonSet in deploy/kubernetes/ gives it.
#
# The build stage runs what CI runs (scripts/setup.sh: Debian packages, npm ci,
# npm run build), so the image holds the build CI tested.

FROM node:20-bookworm AS build
WORKDIR /src
COPY . .
RUN scripts/setup.sh && npm prune --omit=dev

FROM node:20-bookworm-slim
# What the addon links besides libstdc++ and libc: libbpf.so.1 and its own dependencies, libpcap.so.0.8.
RUN apt-get update \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libbpf1 libelf1 zlib1g libpcap0.8 \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/dropwhy
COPY --from=build /src/package.json ./
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist/src ./dist/src
# The BPF object is compiled into the addon (its skeleton embeds it): no .bpf.o to copy.
COPY --from=build /src/build/native/Release/dropwhy.node ./build/native/Release/
COPY --from=build /src/node_modules ./node_modules
RUN ln -s /opt/dropwhy/bin/dropwhy.js /usr/local/bin/dropwhy
EXPOSE 10025
ENTRYPOINT ["dropwhy"]
CMD ["exporter", "--listen", "0.0.0.0:10025"]
