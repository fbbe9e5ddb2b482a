/**
 * The OpenAPI document served at /docs: Nest's generated description plus, for POST
 * /sagas/{name}, the input schema of every loaded saga definition, so a client author sees
 * exactly what each saga accepts.
 *
 * Guarantees: built from the same registry the runtime validates against, at every request
 * (versions registered at run time included), so the document never disagrees with the 400s
 * the API returns.
 */
import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { DefinitionRegistry } from '../definitions/definition-registry';

export function buildOpenApi(app: INestApplication): OpenAPIObject {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Saga orchestrator')
      .setDescription('Start sagas, read their state and full history, inspect definitions. Participants speak the AMQP protocol described in docs/protocol.md.')
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'A token of AUTH_TOKENS; its role decides what it may do (viewer, client, operator, admin)' })
      .build(),
  );
  return withSagaInputs(document, app.get(DefinitionRegistry));
}

/** The input schema of the latest version of every saga, as loaded now (idempotent: served
 *  documents are patched on every request, so versions registered at run time show at once). */
function withSagaInputs(document: OpenAPIObject, registry: DefinitionRegistry): OpenAPIObject {
  const definitions = registry.all();
  const latest = new Map(definitions.map((definition) => [definition.name, definition]));
  document.components ??= {};
  document.components.schemas ??= {};
  const refs = [];
  for (const definition of latest.values()) {
    const schemaName = `SagaInput_${definition.name}`;
    const { $schema: _ignored, ...schema } = definition.inputSchema as Record<string, unknown>;
    document.components.schemas[schemaName] = { ...schema, description: `Input of ${definition.name}@${definition.version}` } as never;
    refs.push({ $ref: `#/components/schemas/${schemaName}` });
  }
  const start = document.paths['/sagas/{name}']?.post;
  if (start) {
    const example = (start.requestBody as { content?: Record<string, { schema?: { example?: unknown } }> } | undefined)?.content?.['application/json']?.schema?.example;
    start.requestBody = {
      required: true,
      description: `The saga input. Sagas loaded: ${[...latest.keys()].join(', ')}. Each is validated against its own schema (see GET /definitions/{name}).`,
      content: { 'application/json': { schema: { oneOf: refs, example } as never } },
    };
  }
  return document;
}

export function serveOpenApi(app: INestApplication): void {
  const registry = app.get(DefinitionRegistry);
  SwaggerModule.setup('docs', app, buildOpenApi(app), {
    jsonDocumentUrl: 'docs-json',
    patchDocumentOnRequest: (_request, _response, document) => withSagaInputs(document, registry),
  });
}
