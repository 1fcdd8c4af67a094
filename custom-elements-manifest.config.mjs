/**
 * `npm run analyze` (part of `npm run build`): dist/custom-elements.json, the Custom Elements Manifest of
 * <style-transfer> for editors, Storybook and docs, generated from the class's JSDoc (@attr, @event, @csspart,
 * @cssproperty) and its Lit property declarations.
 */
export default {
  globs: ['src/ui/style-transfer.ts', 'src/ui/define.ts'],
  outdir: 'dist',
  litelement: true,
  // Leave package.json alone (the analyzer would add a "customElements" field to it by default).
  packagejson: false,
};
