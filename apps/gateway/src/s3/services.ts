import type { INestApplicationContext } from '@nestjs/common';
import { TenantsService } from '#auth';
import { ObjectReader, S3Objects } from '#objects';

/** The domain services the S3 edge calls (taken once from the Nest application). */
export interface S3Services {
  tenants: TenantsService;
  s3: S3Objects;
  reader: ObjectReader;
  /** The Nest application, for handlers registered from other files (multipart). */
  app: INestApplicationContext;
}

export function s3Services(app: INestApplicationContext): S3Services {
  return { tenants: app.get(TenantsService), s3: app.get(S3Objects), reader: app.get(ObjectReader), app };
}
