import { workflowOfJob } from './job-workflow';

describe('workflowOfJob', () => {
  const wf = 'wf-6f1c2b7e-1111-4222-8333-944445555666';

  it('finds a canvas step by its envelope, with its path', () => {
    const data = { $conveyorStep: { workflowId: wf, input: { from: 'previous' } } };
    expect(workflowOfJob({ id: `${wf}.0.1.fan.2`, data })).toEqual({
      kind: 'canvas',
      id: wf,
      at: '0.1.fan.2',
    });
  });

  it('finds a durable step or compensation by its job id', () => {
    expect(workflowOfJob({ id: 'dwf~order-42~3', data: {} })).toEqual({
      kind: 'durable',
      id: 'order-42',
      at: '3',
    });
    expect(workflowOfJob({ id: 'dwf~fulfil-7~c2', data: {} })).toMatchObject({ at: 'c2' });
  });

  it('finds nothing for any other job', () => {
    expect(workflowOfJob({ id: '17', data: { workflowId: wf } })).toBeUndefined();
    expect(workflowOfJob({ id: 'dwf~fulfil-7~x', data: null })).toBeUndefined();
    expect(workflowOfJob({ id: undefined, data: 'text' })).toBeUndefined();
  });
});
