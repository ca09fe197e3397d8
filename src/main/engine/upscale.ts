// Moved to src/shared/cam/upscale.ts (the renderer uses it too); kept while its last importers move.
export * from '../../shared/cam/upscale.ts'
