// Placeholder until this function is built; the stack and the local cloud already wire it.
export const handler = async (): Promise<never> => {
  throw new Error('retrieval-notification is not implemented yet');
};
