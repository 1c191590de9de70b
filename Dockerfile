# Provisioner: one image for the API and the worker (choose with the command).
FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json tsconfig.json ./
COPY packages/libvirt/package.json packages/libvirt/
COPY packages/contracts/package.json packages/contracts/
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY packages packages
COPY apps apps
USER node
EXPOSE 8080 8081
CMD ["node", "--import", "tsx", "apps/api/src/main.ts"]
