export * from './block-writer.js';
export * from './byte-range.js';
export * from './listing.js';
export * from './multipart.service.js';
export * from './object-reader.js';
export * from './object-view.js';
export * from './objects.module.js';
export * from './objects.service.js';
export * from './upload-form.js';

export * from './block-maintenance.js';
export * from './redundancy-report.js';
export * from './s3-uploads.service.js';
export * from './s3-key.js';
export * from './s3-objects.js';
export * from './object-converter.js';
