// Defined in @conveyor/tasks, where `defineEvent()` and the `on` option raise it too; exported
// here as well so existing imports from @conveyor/outbox keep working.
export { InvalidEventError } from '@conveyor/tasks';
