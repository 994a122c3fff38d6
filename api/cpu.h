#ifndef OFFLOAD_CPU_H
#define OFFLOAD_CPU_H
/* GET /cpu?mode=inline|thread|queue&ms=500: the seed's CPU experiment. */
struct api_req;

/* inline burns the CPU on the event loop on purpose: it is the anti-pattern
 * the experiment measures, and it stalls every other request meanwhile. */
void cpu_handle(struct api_req *r);

#endif
