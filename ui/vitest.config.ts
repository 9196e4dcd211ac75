import { defineConfig } from 'vitest/config';

// Unit tests of the plain-TypeScript modules (state, API client, DICOMweb
// helpers, presets); they need no browser. Rendering is tested end to end
// by e2e/ in headless Chromium.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
