// Builds the view into ONE self-contained HTML file (scripts and styles inlined): hosts load it
// from a `ui://` resource into a sandboxed iframe that may fetch nothing else.
import { defineConfig } from "vite";
import { viteSingleFile } from "vite-plugin-singlefile";

export default defineConfig({
  plugins: [viteSingleFile()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // Committed output: no source maps, nothing hashed into file names, stable from run to run.
    sourcemap: false,
    target: "es2022",
    // Browsers with native light-dark(): lowering it would tie colours to prefers-color-scheme
    // instead of the color-scheme the host's theme sets (applyDocumentTheme).
    cssTarget: ["chrome123", "edge123", "firefox120", "safari17.5"],
    // One inline module script: the modulepreload polyfill would be dead weight.
    modulePreload: { polyfill: false },
  },
});
