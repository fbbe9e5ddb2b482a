import { AmqpUrlListError, amqpUrlListProblem, describeEndpoint, EndpointRotation, parseAmqpUrls } from './amqp-endpoints';

describe('AMQP URL lists', () => {
  it('accepts one URL or a comma-separated list, trimming spaces', () => {
    expect(parseAmqpUrls('amqp://guest:guest@127.0.0.1:5672')).toEqual(['amqp://guest:guest@127.0.0.1:5672']);
    expect(parseAmqpUrls('amqp://a:5681/v, amqps://b:5682/v ,amqp://c')).toEqual(['amqp://a:5681/v', 'amqps://b:5682/v', 'amqp://c']);
  });

  it('names the wrong entry without echoing it (it may hold a password)', () => {
    expect(amqpUrlListProblem('amqp://a,http://u:secret@b')).toBe('entry 2 of 2 must be an amqp:// or amqps:// URL');
    expect(amqpUrlListProblem('amqp://a,,amqp://c')).toBe('entry 2 of 3 is empty');
    expect(amqpUrlListProblem('not a url')).toBe('the URL is not a URL');
    expect(amqpUrlListProblem('amqp://a,')).toBe('entry 2 of 2 is empty');
    expect(() => parseAmqpUrls('amqp://u:secret@a,nope')).toThrow(AmqpUrlListError);
    expect(() => parseAmqpUrls('amqp://u:secret@a,nope')).not.toThrow(/secret/);
  });

  it('describes an endpoint as host:port only', () => {
    expect(describeEndpoint('amqp://user:secret@mq-1:5681/vh')).toBe('mq-1:5681');
    expect(describeEndpoint('amqp://user:secret@mq-1')).toBe('mq-1:5672');
    expect(describeEndpoint('amqps://mq-1/vh')).toBe('mq-1:5671');
  });
});

describe('EndpointRotation', () => {
  it('serves the current endpoint through the connect target and moves round robin', () => {
    const rotation = new EndpointRotation(['amqp://u%40x:p%2Fw@a:5681/v%2Fh?heartbeat=10&frameMax=8192', 'amqps://b:5682', 'amqp://c:5683/']);
    expect(rotation.current).toBe('a:5681');
    expect({ ...rotation.target }).toEqual({
      protocol: 'amqp',
      hostname: 'a',
      port: 5681,
      username: 'u@x',
      password: 'p/w',
      vhost: 'v%2Fh', // amqplib unescapes the vhost itself, as it does for a URL string
      locale: undefined,
      frameMax: 8192,
      channelMax: undefined,
      heartbeat: 10,
      maxFrameSize: undefined,
    });
    rotation.advance();
    expect(rotation.current).toBe('b:5682');
    expect(rotation.target).toMatchObject({ protocol: 'amqps', hostname: 'b', port: 5682, username: undefined, password: undefined, vhost: undefined });
    rotation.advance();
    expect(rotation.target.vhost).toBeUndefined();
    rotation.advance();
    expect(rotation.current).toBe('a:5681');
  });

  it('stays on the only endpoint when there is one', () => {
    const rotation = new EndpointRotation(['amqp://guest:guest@127.0.0.1:5672']);
    rotation.advance();
    expect(rotation.current).toBe('127.0.0.1:5672');
    expect(rotation.target).toMatchObject({ hostname: '127.0.0.1', port: 5672, username: 'guest', password: 'guest' });
  });
});
