import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';
import { loadConfig } from './config';

async function bootstrap(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = new Logger('OrderService');
  const module = AppModule.forRoles(config);
  const roles = config.ROLES.join(', ');
  if (config.ROLES.includes('api')) {
    const app = await NestFactory.create(module);
    app.enableShutdownHooks();
    await app.listen(config.PORT, config.HOST);
    logger.log(`roles: ${roles}; listening on http://${config.HOST}:${config.PORT}`);
  } else {
    const app = await NestFactory.createApplicationContext(module);
    app.enableShutdownHooks();
    logger.log(`roles: ${roles}`);
  }
  if (!config.DATABASE_URL)
    logger.log('database: embedded PGlite (set DATABASE_URL for PostgreSQL)');
}

bootstrap().catch((error: Error) => {
  // Configuration and connection errors say what is wrong; a stack adds nothing for them.
  console.error(`order service failed to start: ${error.message}`);
  process.exit(1);
});
