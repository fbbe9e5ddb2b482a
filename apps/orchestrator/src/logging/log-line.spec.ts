/**
 * logLine: the same fields as a JSON object or as text, leaving out the ones not given.
 */
import { logLine, setLogFormat } from './log-line';

afterEach(() => setLogFormat('text'));

it('gives text with the fields after the message, or one object in JSON', () => {
  expect(logLine('saga is stuck', { sagaId: 's-1', step: 'pay', attempts: 3, actor: undefined })).toBe('saga is stuck (sagaId=s-1, step=pay, attempts=3)');
  expect(logLine('plain', {})).toBe('plain');
  setLogFormat('json');
  expect(logLine('saga is stuck', { sagaId: 's-1', step: 'pay', attempts: 3, actor: undefined })).toEqual({ msg: 'saga is stuck', sagaId: 's-1', step: 'pay', attempts: 3 });
});
