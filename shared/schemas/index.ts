export * from './common.ts';
export * from './site.ts';
export * from './machine.ts';
export * from './profile.ts';
export * from './assignment.ts';
export * from './access.ts';
export * from './image.ts';
