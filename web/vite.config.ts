/// <reference types="vitest/config" />
import { defineConfig } from "vite";

// One HTML entry per page (multi-page build): dist/console/index.html is served
// at /console/ by crates/web; hashed assets go to dist/assets/ (served at
// /assets/, cached forever). The panel SPA will add its own entry here.
export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    assetsDir: "assets",
    emptyOutDir: true,
    // noVNC + xterm are big; the console page is one chunk of each, on purpose.
    chunkSizeWarningLimit: 1024,
    rollupOptions: {
      input: { console: "console/index.html" },
    },
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
  },
});
