# The App's own image, run by the kustomize base in k8s/ (and usable on a
# Docker host). Node 24 runs the TypeScript sources directly: no build step.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only; no install scripts are needed (see allowScripts).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules node_modules
COPY package.json app.yml ./
COPY bin bin
COPY src src
# Numeric, non-root: matches runAsUser in k8s/deployment.yaml.
USER 10001:10001
EXPOSE 3000
ENTRYPOINT ["node", "bin/paas.js"]
CMD ["start"]
