import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

/** OpenAPI document at /docs-json and its UI at /docs, generated from the controllers and DTOs. */
export function setupOpenApi(app: INestApplication): void {
  const doc = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('JCS-pub compatible storage gateway')
      .setDescription(
        'The JCS-pub `/v1` client API. Every `/v1` request is signed with AWS SigV4, service `jcs`, any region ' +
          '(e.g. `curl --aws-sigv4 "aws:amz:any:jcs" --user AK:SK`). Responses are `{"code","message","data"}` envelopes.',
      )
      .setVersion('1')
      .addSecurity('sigv4', { type: 'apiKey', in: 'header', name: 'Authorization', description: 'AWS4-HMAC-SHA256 …' })
      .addSecurityRequirements('sigv4')
      .build(),
  );
  SwaggerModule.setup('docs', app, doc, { jsonDocumentUrl: 'docs-json' });
}
