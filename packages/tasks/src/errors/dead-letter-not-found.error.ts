import { ConveyorError } from './conveyor.error';

/** No dead letter with this id in this queue (replayed, purged, or never failed). */
export class DeadLetterNotFoundError extends ConveyorError {
  override readonly name = 'DeadLetterNotFoundError';

  constructor(
    readonly queue: string,
    readonly jobId: string,
  ) {
    super(
      `no dead letter ${jobId} in queue '${queue}' (already replayed or purged, or it never failed)`,
    );
  }
}
