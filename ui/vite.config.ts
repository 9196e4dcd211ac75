// Vite configuration of the radmark UI. The settings below are the ones
// ../shared/research/ui-stack.md found necessary for Cornerstone3D 5.x on
// Vite 8; each one silently breaks image loading when it is missing.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// `make dev` (and `npm run dev`) proxy the server's routes to a running
// `radmark serve`; RADMARK_URL says where (default: the `make run` address).
const server = process.env.RADMARK_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  // The loader's decode worker is created with type: 'module'.
  worker: { format: 'es' },
  // Dev server only: the worker imports the codecs' CommonJS/UMD emscripten
  // glue, which must be pre-bundled or images never arrive (no error shown).
  // Do not exclude @cornerstonejs/dicom-image-loader (breaks Vite 8).
  optimizeDeps: {
    include: [
      '@cornerstonejs/codec-charls/decodewasmjs',
      '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs',
      '@cornerstonejs/codec-openjpeg/decodewasmjs',
      '@cornerstonejs/codec-openjph/wasmjs',
      '@cornerstonejs/codec-libjxl/decodewasmjs',
    ],
  },
  server: {
    proxy: {
      '/dicomweb': { target: server, changeOrigin: false },
      '/api': { target: server, changeOrigin: false },
    },
  },
  build: {
    // ui/embed.go embeds dist/; the build owns only dist/app so that the
    // committed dist/placeholder.html survives every build (see README.md).
    outDir: 'dist/app',
    emptyOutDir: true,
    // Cornerstone and vtk.js are large; the warning says nothing useful.
    chunkSizeWarningLimit: 8000,
    rolldownOptions: {
      output: {
        codeSplitting: {
          groups: [
            { name: 'vtk', test: /node_modules[\\/]@kitware/ },
            { name: 'cornerstone', test: /node_modules[\\/]@cornerstonejs/ },
            { name: 'vendor', test: /node_modules[\\/]/ },
          ],
        },
      },
    },
  },
});
