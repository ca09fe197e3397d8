// Moved to src/shared/cam/boxes.ts (the renderer uses it too); kept while its last importers move.
export * from '../../shared/cam/boxes.ts'
